import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type App, openStore, startApp } from './app.js';
import { ExplainUsageError, explainCommand } from './cli/explain.js';
import { healthcheck } from './cli/healthcheck.js';
import { TOKEN_USAGE, tokenCommand } from './cli/token.js';
import { ConfigError, formatIssue } from './config/issues.js';
import { type Config, loadConfig } from './config/load.js';
import { describeStore, storeIsRedis } from './config/schema.js';
import { systemClock } from './core/clock.js';
import { normalizeEmail } from './core/email.js';
import { hashPassword, MAX_PASSWORD_LENGTH } from './core/password.js';
import { safeRedirect } from './core/redirect.js';
import { createLogger } from './logger.js';
import { readRuntimeKey } from './runtime-key.js';
import { AuditLog, CLI_ACTOR } from './services/audit.js';
import { LoginLinks } from './services/login-links.js';
import { UserService } from './services/users.js';

const USAGE = `usage: portcullis <command> [options]
  serve [--config FILE] [--anonymous-mode]      start the server
  check-config [--config FILE] [--send-test EMAIL]
                                                validate the config and exit; --send-test also
                                                sends one test mail (exit 1 and why if it fails)
  healthcheck [--config FILE]                   GET healthz where serve listens: exit 0 or 1
  login-url EMAIL [--rd URL] [--config FILE]    print a one-time login link for EMAIL
  hash-password                                 read a password on stdin, print its hash
${TOKEN_USAGE}
  explain URL [--method M] [--user EMAIL] [--config FILE]
                                                which access rule matches URL, and the answer
  --version                                     print the version`;

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
      for (const warning of error.warnings) process.stderr.write(`warning: ${warning}\n`);
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
    if (stopping) {
      // A second signal: the operator does not want to wait for the drain.
      app.ctx.logger.warn({ signal }, 'second signal: stopping now');
      app.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
      return;
    }
    stopping = true;
    const drainMs = config.raw.server.drain_timeout;
    app.ctx.logger.info({ signal, drain_timeout_ms: drainMs }, 'shutting down');
    // The drain is bounded; closing the store and the mailer after it must not hang either.
    const force = setTimeout(() => {
      app.ctx.logger.error('shutdown did not finish in time: exiting anyway');
      process.exit(1);
    }, drainMs + 5000);
    force.unref();
    app.shutdown(drainMs).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function checkConfig(
  configPath: string | undefined,
  sendTest: string | undefined,
): Promise<void> {
  const config = load(configPath);
  for (const warning of config.warnings) process.stderr.write(`warning: ${warning}\n`);
  const raw = config.raw;
  process.stdout.write(
    `config OK: ${config.path} — listen ${raw.server.listen}, public_url ${raw.server.public_url}, store ${describeStore(raw.store)}, login ${raw.auth.enabled_auth.join(',')}, ${raw.access.rules.length} access rule(s)${raw.anonymous_mode ? ', anonymous mode' : ''}\n`,
  );
  if (sendTest === undefined) return;
  const to = normalizeEmail(sendTest);
  if (!to)
    fail(`portcullis check-config: --send-test "${sendTest}" is not an email address`, EXIT_CONFIG);
  const { sendTestMail } = await import('./mail/send-test.js');
  const outcome = await sendTestMail(config, to, createLogger('silent'));
  switch (outcome.kind) {
    case 'sent':
      process.stdout.write(`test mail sent to ${to} via ${outcome.via}\n`);
      return;
    case 'nothing_to_test':
      process.stdout.write(
        `auth.magic_link.mailer is ${outcome.mailer}: it sends no mail, so there is nothing to test\n`,
      );
      return;
    case 'failed':
      fail(`test mail to ${to} not sent: ${outcome.reason}`, 1);
  }
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
  if (!storeIsRedis(config.raw.store)) {
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
    const user = await new UserService(store, systemClock, config.raw.admin).findOrCreate(
      normalized,
    );
    const links = new LoginLinks(store, systemClock, secrets, ttl, baseUrl);
    const url = await links.issue(normalized, target);
    // Stdout is the link and stderr stays for problems: the event goes to the shared trail
    // only, where the admin panel shows it. (A signed link, made above, has no store to go to.)
    await new AuditLog(store, systemClock, logger, createLogger('silent')).record(
      { event: 'link.issued', via: 'cli' },
      { actor: CLI_ACTOR, subject: user },
    );
    process.stdout.write(`${url}\n`);
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

/** The installed package's version: package.json sits one level above both src/ and dist/. */
function packageVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

async function explainCli(
  url: string | undefined,
  method: string | undefined,
  user: string | undefined,
  configPath: string | undefined,
): Promise<void> {
  if (url === undefined) fail(`portcullis explain: a URL is required\n${USAGE}`, EXIT_CONFIG);
  const config = load(configPath);
  let lines: string[];
  try {
    lines = await explainCommand(config, { url, method, user });
  } catch (error) {
    if (error instanceof ExplainUsageError)
      fail(`portcullis explain: ${error.message}`, EXIT_CONFIG);
    fail(`portcullis explain: the store is unreachable: ${(error as Error).message}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function tokenCli(
  verb: string | undefined,
  subject: string | undefined,
  name: string | undefined,
  expires: string | undefined,
  configPath: string | undefined,
): Promise<void> {
  const config = load(configPath);
  const result = await tokenCommand(config, { verb, subject, name, expires });
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  if (result.code !== 0) process.exit(result.code);
}

async function healthcheckCli(configPath: string | undefined): Promise<void> {
  const result = await healthcheck(configPath);
  (result.code === 0 ? process.stdout : process.stderr).write(`${result.message}\n`);
  process.exit(result.code);
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
        method: { type: 'string' },
        user: { type: 'string' },
        name: { type: 'string' },
        expires: { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        'send-test': { type: 'string' },
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
    method?: string;
    user?: string;
    name?: string;
    expires?: string;
    version?: boolean;
    help?: boolean;
    'send-test'?: string;
  };
  if (values.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    if (!command && !values.help) process.exit(EXIT_CONFIG);
    return;
  }
  switch (command) {
    case 'serve':
      return serve(values.config, values['anonymous-mode'] === true);
    case 'check-config':
      return checkConfig(values.config, values['send-test']);
    case 'healthcheck':
      return healthcheckCli(values.config);
    case 'login-url':
      return loginUrl(rest[0], values.rd, values.config);
    case 'hash-password':
      return hashPasswordCommand();
    case 'explain':
      return explainCli(rest[0], values.method, values.user, values.config);
    case 'token':
      return tokenCli(rest[0], rest[1], values.name, values.expires, values.config);
    default:
      fail(`portcullis: unknown command "${command}"\n${USAGE}`, EXIT_CONFIG);
  }
}
