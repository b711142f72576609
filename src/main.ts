import { parseArgs } from 'node:util';
import { type App, openStore, startApp } from './app.js';
import { ConfigError, formatIssue } from './config/issues.js';
import { type Config, loadConfig } from './config/load.js';
import { systemClock } from './core/clock.js';
import { normalizeEmail } from './core/email.js';
import { hashPassword, MAX_PASSWORD_LENGTH } from './core/password.js';
import { safeRedirect } from './core/redirect.js';
import { createLogger } from './logger.js';
import { readRuntimeKey } from './runtime-key.js';
import { LoginLinks } from './services/login-links.js';
import { UserService } from './services/users.js';

const USAGE = `usage: portcullis <command> [options]
  serve [--config FILE] [--anonymous-mode]      start the server
  check-config [--config FILE]                  validate the config and exit
  login-url EMAIL [--rd URL] [--config FILE]    print a one-time login link for EMAIL
  hash-password                                 read a password on stdin, print its hash`;

/** Exit codes: 0 ok, 1 runtime failure, 2 config or usage error. */
const EXIT_CONFIG = 2;

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function load(path: string | undefined, anonymousMode = false): Config {
  try {
    return loadConfig({ path, anonymousMode });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`portcullis: config error${error.issues.length > 1 ? 's' : ''}:\n`);
      for (const issue of error.issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}

async function serve(configPath: string | undefined, anonymousMode: boolean): Promise<void> {
  const config = load(configPath, anonymousMode);
  let app: App;
  try {
    app = await startApp(config);
  } catch (error) {
    fail(`portcullis: cannot start: ${(error as Error).message}`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.ctx.logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function checkConfig(configPath: string | undefined): void {
  const config = load(configPath);
  for (const warning of config.warnings) process.stderr.write(`warning: ${warning}\n`);
  const raw = config.raw;
  process.stdout.write(
    `config OK: ${config.path} — listen ${raw.server.listen}, public_url ${raw.server.public_url}, store ${raw.store.url.replace(/\/\/[^@/]*@/, '//***@')}, login ${raw.auth.enabled_auth.join(',')}, ${raw.access.rules.length} access rule(s)${raw.anonymous_mode ? ', anonymous mode' : ''}\n`,
  );
}

async function loginUrl(
  email: string | undefined,
  rd: string | undefined,
  configPath: string | undefined,
): Promise<void> {
  if (!email) fail(`portcullis login-url: an email address is required\n${USAGE}`, EXIT_CONFIG);
  const normalized = normalizeEmail(email);
  if (!normalized)
    fail(
      `portcullis login-url: "${email}" is not an email address (exactly one @, ASCII)`,
      EXIT_CONFIG,
    );
  const config = load(configPath);
  const target = safeRedirect(rd ?? '/', config.redirectPolicy);
  if (rd !== undefined && target !== rd) {
    process.stderr.write(`warning: --rd ${rd} is not one of this deployment's hosts; using /\n`);
  }
  const publicPath = config.publicUrl.pathname.replace(/\/+$/, '');
  const baseUrl = `${config.publicOrigin}${publicPath}${config.prefix}`;
  const ttl = config.raw.auth.magic_link.ttl;
  const logger = createLogger('error');
  if (config.raw.store.url === 'memory://') {
    // The running server's memory cannot be reached from here: sign a link it can verify.
    const secret = config.secretKeys?.[0] ?? readRuntimeKey(config.path);
    if (!secret) {
      fail(
        'portcullis login-url: no auth.secret_key is configured and no running server was found for this config.\nStart `portcullis serve` first, or set auth.secret_key (PORTCULLIS_SECRET_KEY).',
      );
    }
    const links = new LoginLinks(
      // A signed link never touches the store here.
      await openStore(config, systemClock, logger),
      systemClock,
      [secret],
      ttl,
      baseUrl,
    );
    process.stdout.write(`${links.issueSigned(normalized, target)}\n`);
    return;
  }
  const store = await openStore(config, systemClock, logger);
  try {
    await store.ping();
    const secrets = config.secretKeys ?? [];
    await new UserService(store, systemClock, config.raw.admin).findOrCreate(normalized);
    const links = new LoginLinks(store, systemClock, secrets, ttl, baseUrl);
    process.stdout.write(`${await links.issue(normalized, target)}\n`);
  } catch (error) {
    fail(`portcullis login-url: the store is unreachable: ${(error as Error).message}`);
  } finally {
    await store.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function hashPasswordCommand(): Promise<void> {
  if (process.stdin.isTTY) process.stderr.write('Password (then Enter and Ctrl-D): ');
  const input = (await readStdin()).replace(/\r?\n$/, '');
  if (input.length === 0) fail('portcullis hash-password: empty password', EXIT_CONFIG);
  if (input.length > MAX_PASSWORD_LENGTH)
    fail(`portcullis hash-password: longer than ${MAX_PASSWORD_LENGTH} characters`, EXIT_CONFIG);
  process.stdout.write(`${await hashPassword(input)}\n`);
}

export async function main(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'anonymous-mode': { type: 'boolean' },
        rd: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    fail(`portcullis: ${(error as Error).message}\n${USAGE}`, EXIT_CONFIG);
  }
  const [command, ...rest] = parsed.positionals;
  const values = parsed.values as {
    config?: string;
    'anonymous-mode'?: boolean;
    rd?: string;
    help?: boolean;
  };
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    if (!command && !values.help) process.exit(EXIT_CONFIG);
    return;
  }
  switch (command) {
    case 'serve':
      return serve(values.config, values['anonymous-mode'] === true);
    case 'check-config':
      return checkConfig(values.config);
    case 'login-url':
      return loginUrl(rest[0], values.rd, values.config);
    case 'hash-password':
      return hashPasswordCommand();
    default:
      fail(`portcullis: unknown command "${command}"\n${USAGE}`, EXIT_CONFIG);
  }
}
