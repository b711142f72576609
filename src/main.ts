import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EXIT_CONFIG, fail, loadOrExit } from './cli/fail.js';
import { USAGE } from './cli/usage.js';

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
  const config = loadOrExit(configPath);
  // Each verb loads only its own modules: a CLI call must not pay for the whole server.
  const { ExplainUsageError, explainCommand } = await import('./cli/explain.js');
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
  const config = loadOrExit(configPath);
  const { tokenCommand } = await import('./cli/token.js');
  const result = await tokenCommand(config, { verb, subject, name, expires });
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  if (result.code !== 0) process.exit(result.code);
}

async function healthcheckCli(configPath: string | undefined): Promise<void> {
  const { healthcheck } = await import('./cli/healthcheck.js');
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
      return (await import('./cli/serve.js')).serve(
        values.config,
        values['anonymous-mode'] === true,
      );
    case 'check-config':
      return (await import('./cli/check-config.js')).checkConfig(
        values.config,
        values['send-test'],
      );
    case 'healthcheck':
      return healthcheckCli(values.config);
    case 'login-url':
      return (await import('./cli/login-url.js')).loginUrl(rest[0], values.rd, values.config);
    case 'hash-password':
      return (await import('./cli/hash-password.js')).hashPasswordCommand();
    case 'explain':
      return explainCli(rest[0], values.method, values.user, values.config);
    case 'token':
      return tokenCli(rest[0], rest[1], values.name, values.expires, values.config);
    default:
      fail(`portcullis: unknown command "${command}"\n${USAGE}`, EXIT_CONFIG);
  }
}
