import type { Config } from '../config/load.js';
import { storeIsRedis } from '../config/schema.js';
import { systemClock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import { normalizeEmail } from '../core/email.js';
import { createLogger } from '../logger.js';
import { openStore } from '../open-store.js';
import type { Store } from '../ports/store.js';
import { type AppTokenInfo, AppTokenService } from '../services/app-tokens.js';

/** What `portcullis token …` prints and how it exits: 0 ok, 1 runtime failure, 2 usage or config. */
export interface TokenCommandResult {
  code: 0 | 1 | 2;
  stdout: string;
  stderr: string;
}

export interface TokenArgs {
  /** `create`, `list` or `revoke`. */
  verb: string | undefined;
  /** EMAIL for create and list, ID for revoke. */
  subject: string | undefined;
  name: string | undefined;
  expires: string | undefined;
}

export const TOKEN_USAGE = `  token create EMAIL --name NAME [--expires 90d] [--config FILE]
                                                print a new app token for EMAIL (shown once)
  token list EMAIL [--config FILE]              EMAIL's app tokens (id, name, dates)
  token revoke ID [--config FILE]               revoke an app token`;

const done = (stdout: string, stderr = ''): TokenCommandResult => ({ code: 0, stdout, stderr });
const failed = (code: 1 | 2, message: string): TokenCommandResult => ({
  code,
  stdout: '',
  stderr: `portcullis token: ${message}\n`,
});

function when(at: number | null): string {
  return at === null ? '-' : `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

function table(tokens: AppTokenInfo[], now: number): string {
  const rows = [
    ['ID', 'NAME', 'CREATED', 'LAST USED', 'EXPIRES'],
    ...tokens.map((t) => [
      t.id,
      t.name,
      when(t.createdAt),
      when(t.lastUsedAt),
      t.expiresAt !== null && t.expiresAt <= now
        ? `${when(t.expiresAt)} (expired)`
        : when(t.expiresAt),
    ]),
  ];
  const widths =
    rows[0]?.map((_cell, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ??
    [];
  return rows
    .map((row) =>
      row
        .map((cell, column) =>
          column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0),
        )
        .join('  '),
    )
    .join('\n');
}

async function withStore(config: Config, work: Work): Promise<TokenCommandResult> {
  const store = await openStore(config, systemClock, createLogger('silent'));
  try {
    await store.ping();
    const tokens = new AppTokenService(store, store, systemClock, {
      maxLifetimeMs: config.raw.tokens.max_lifetime,
    });
    return await work(store, tokens);
  } catch (error) {
    return failed(1, `the store is unreachable: ${(error as Error).message}`);
  } finally {
    await store.close();
  }
}

/**
 * `portcullis token create|list|revoke`. The tokens live in the shared store, so the command
 * needs Redis: with `memory://` a token made here would exist only in this process, and a running
 * server could never accept it (unlike a login link, it cannot be signed: it must stay revocable).
 */
export async function tokenCommand(config: Config, args: TokenArgs): Promise<TokenCommandResult> {
  const verb = args.verb;
  if (verb !== 'create' && verb !== 'list' && verb !== 'revoke')
    return failed(2, `expected create, list or revoke\nusage:\n${TOKEN_USAGE}`);
  if (args.subject === undefined)
    return failed(
      2,
      `${verb} needs ${verb === 'revoke' ? 'a token ID' : 'an email address'}\nusage:\n${TOKEN_USAGE}`,
    );
  const planned = plan(config, verb, args.subject, args);
  if ('code' in planned) return planned;
  if (!storeIsRedis(config.raw.store))
    return failed(
      2,
      'the store is memory://: a token made here would live only in this process, and the running server could never accept it.\nSet store.url (or REDIS_URL) to the Redis the server uses.',
    );
  return withStore(config, planned.run);
}

type Work = (store: Store, tokens: AppTokenService) => Promise<TokenCommandResult>;

/** Checks the arguments (usage errors come before any store is opened) and returns the work. */
function plan(
  config: Config,
  verb: 'create' | 'list' | 'revoke',
  subject: string,
  args: TokenArgs,
): { run: Work } | TokenCommandResult {
  if (verb === 'revoke') {
    const id = subject;
    if (!/^[0-9a-f]{16}$/.test(id))
      return failed(2, `"${id}" is not a token id (see \`portcullis token list EMAIL\`)`);
    return {
      run: async (store, tokens) => {
        const revoked = await tokens.revoke(id);
        if (!revoked) return failed(1, `no live token with id ${id}`);
        const owner = await store.getUser(revoked.userId);
        return done(
          `revoked ${revoked.id} "${revoked.name}" of ${owner?.email ?? revoked.userId}\n`,
        );
      },
    };
  }

  const email = normalizeEmail(subject);
  if (!email) return failed(2, `"${subject}" is not an email address (exactly one @, ASCII)`);

  if (verb === 'list') {
    return {
      run: async (store, tokens) => {
        const user = await store.getUserByEmail(email);
        if (!user) return failed(1, `no user with email ${email}`);
        const list = await tokens.list(user.id);
        if (list.length === 0) return done('', `no app tokens for ${email}\n`);
        return done(`${table(list, systemClock.now())}\n`);
      },
    };
  }

  if (!config.raw.tokens.enabled) return failed(2, 'app tokens are off (tokens.enabled: false)');
  if (args.name === undefined) return failed(2, `create needs --name NAME\nusage:\n${TOKEN_USAGE}`);
  const name = args.name;
  let expiresInMs: number | undefined;
  if (args.expires !== undefined) {
    const parsed = parseDuration(args.expires);
    if (parsed === null)
      return failed(2, `--expires ${args.expires} is not a duration (90s, 15m, 12h, 30d)`);
    if (parsed > config.raw.tokens.max_lifetime)
      return failed(2, `--expires ${args.expires} is past tokens.max_lifetime`);
    expiresInMs = parsed;
  }
  return {
    run: async (store, tokens) => {
      const user = await store.getUserByEmail(email);
      if (!user) return failed(1, `no user with email ${email}`);
      const created = await tokens.create(user.id, name, { expiresInMs });
      if (!created.ok)
        return failed(
          created.reason === 'inactive_user' || created.reason === 'too_many' ? 1 : 2,
          created.message,
        );
      // Stdout is the token alone, so a script can capture it; the rest goes to stderr.
      return done(
        `${created.token}\n`,
        `token ${created.record.id} "${created.record.name}" for ${email}, expires ${when(created.record.expiresAt)}; it is not shown again\n`,
      );
    },
  };
}
