import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { verifyPassword } from '../../src/core/password.js';
import { freePort, waitFor } from '../helpers/ports.js';

/**
 * The real binary, `node bin/portcullis.js` → `dist/main.js`. Like the other process tests it
 * runs the last build rather than building itself (a build inside a test would race the other
 * suites that run the same `dist/`): `npm test` builds first; after editing `src/`, run
 * `npm run build` before running this file alone. A missing build fails loudly.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'portcullis.js');
const KEY = 'ab'.repeat(32);

// The machine's own settings must not leak into a test.
const CLEARED = [
  'PORTCULLIS_CONFIG',
  'PORTCULLIS_SECRET_KEY',
  'PORTCULLIS_LISTEN',
  'PORTCULLIS_PUBLIC_URL',
  'REDIS_URL',
  'RESEND_API_KEY',
  'GOOGLE_CLIENT_ID',
  'GOOGLE_CLIENT_SECRET',
  'SCIM_USER',
  'SCIM_PASSWORD',
  'SCIM_BEARER_TOKEN',
];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  env?: Record<string, string>;
  stdin?: string;
  cwd?: string;
  timeoutMs?: number;
}

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CLEARED) delete env[name];
  return { ...env, ...extra };
}

function run(args: string[], options: RunOptions = {}): Promise<Result> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: childEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`portcullis ${args.join(' ')} did not finish\n${stdout}${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

function configFile(config: Record<string, unknown> | string, name = 'portcullis.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
  const path = join(dir, name);
  writeFileSync(path, typeof config === 'string' ? config : stringify(config));
  return path;
}

/** The lines `check-config` must print: loadConfig's own issues, formatted, in order. */
function expectedProblems(path: string, env: Record<string, string> = {}): string[] {
  try {
    loadConfig({ path, env });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map(formatIssue);
    throw error;
  }
  throw new Error('the config was expected to be bad');
}

function problemLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('  '))
    .map((line) => line.trim());
}

function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolvePort(false);
    });
    socket.once('error', () => resolvePort(true));
  });
}

const BAD = {
  sesion: { lifetime: '1d' },
  server: { listen: 'localhost', trusted_proxies: ['10.0.0.0/99'] },
  auth: { secret_key: 'tooshort', magic_link: { ttl: 'soon' } },
  access: { rules: [{ host: 'https://app.example.com', groups: ['admins'] }] },
  scim: { enabled: true },
};

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run build` (npm test does it first)');
  }
});

describe('check-config', () => {
  it('exits 0 with a one-line summary for a good config', async () => {
    const path = configFile({
      server: { listen: '127.0.0.1:4999', public_url: 'https://auth.example.com' },
      auth: { secret_key: KEY },
      access: { rules: [{ host: 'app.example.com', path: '/api/health', policy: 'bypass' }] },
    });
    const result = await run(['check-config', '--config', path]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^config OK: /);
    expect(lines[0]).toContain(path);
    expect(lines[0]).toContain('127.0.0.1:4999');
    expect(lines[0]).toContain('1 access rule');
  });

  it('never prints the password of a store URL', async () => {
    const path = configFile({
      store: { url: 'redis://:hunter2@127.0.0.1:1/0' },
      auth: { secret_key: KEY },
    });
    const result = await run(['check-config', '--config', path]);
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain('hunter2');
    expect(result.stdout + result.stderr).not.toContain(KEY);
  });

  it('exits 2 listing every problem as `path.to.key: message`', async () => {
    const path = configFile(BAD);
    const result = await run(['check-config', '--config', path]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = problemLines(result.stderr);
    expect(lines).toEqual(expectedProblems(path));
    const keys = lines.map((line) => line.slice(0, line.indexOf(': ')));
    expect(keys).toEqual(
      expect.arrayContaining([
        'sesion',
        'server.listen',
        'server.trusted_proxies.0',
        'auth.secret_key',
        'auth.magic_link.ttl',
        'access.rules.0.host',
        'scim.enabled',
      ]),
    );
    for (const line of lines) expect(line).toMatch(/^[a-z_][a-z_.0-9]*: \S/);
  });

  it('exits 2 for a missing file, invalid YAML and a non-mapping top level', async () => {
    for (const path of [
      join(tmpdir(), 'portcullis-no-such-dir', 'none.yaml'),
      configFile('server: [\n'),
      configFile('- a\n'),
    ]) {
      const result = await run(['check-config', '--config', path]);
      expect(result.code, path).toBe(2);
      expect(problemLines(result.stderr)).toEqual(expectedProblems(path));
    }
  });
});

describe('serve with a bad config', () => {
  it('exits 2 with the same messages as check-config and never listens', async () => {
    const port = await freePort();
    const path = configFile({ ...BAD, server: { listen: `127.0.0.1:${port}` } });
    const checked = await run(['check-config', '--config', path]);
    const served = await run(['serve', '--config', path]);
    expect(served.code).toBe(2);
    expect(problemLines(served.stderr)).toEqual(problemLines(checked.stderr));
    expect(problemLines(served.stderr).length).toBeGreaterThan(3);
    expect(await portIsClosed(port)).toBe(true);
  });

  it('a Redis store without secret_key stops it before it connects anywhere', async () => {
    const port = await freePort();
    const path = configFile({
      server: { listen: `127.0.0.1:${port}` },
      store: { url: 'redis://127.0.0.1:1/0' },
    });
    const served = await run(['serve', '--config', path]);
    expect(served.code).toBe(2);
    expect(problemLines(served.stderr)).toEqual([
      expect.stringMatching(/^auth\.secret_key: required with a Redis store/),
    ]);
    expect(await portIsClosed(port)).toBe(true);
  });
});

describe('login-url', () => {
  const good = () => configFile({ auth: { secret_key: KEY } });

  it.each([
    ['not-an-email'],
    ['a@b@example.com'],
    ['@example.com'],
    ['alice@'],
    ['al ice@example.com'],
    ['alice@exämple.com'],
  ])('refuses %j with exit 2', async (email) => {
    const result = await run(['login-url', email, '--config', good()]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/not an email address/);
  });

  it('refuses a missing email with exit 2', async () => {
    const result = await run(['login-url', '--config', good()]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
  });

  it('exits 2 on a bad config, like every command', async () => {
    const result = await run(['login-url', 'alice@example.com', '--config', configFile(BAD)]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(problemLines(result.stderr).length).toBeGreaterThan(3);
  });

  it('prints a link, and replaces a hostile --rd with /', async () => {
    const result = await run([
      'login-url',
      'alice@example.com',
      '--rd',
      '//evil.com',
      '--config',
      good(),
    ]);
    expect(result.code).toBe(0);
    const link = new URL(result.stdout.trim());
    expect(link.pathname).toBe('/auth/magic');
    expect(link.searchParams.get('token')).toBeTruthy();
    expect(result.stdout).not.toContain('evil.com');
    expect(result.stderr).toMatch(/--rd .* using \//);
  });
});

describe('hash-password', () => {
  it('reads stdin and prints a $scrypt$ hash that verifyPassword accepts', async () => {
    const result = await run(['hash-password'], { stdin: 'correct horse battery staple\n' });
    expect(result.code).toBe(0);
    const hash = result.stdout.trim();
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(hash).toMatch(/^\$scrypt\$N=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery staple\n', hash)).toBe(false);
    expect(await verifyPassword('wrong', hash)).toBe(false);
    expect(result.stdout + result.stderr).not.toContain('correct horse');
  });

  it('strips only the final line break (CRLF too) and keeps inner spaces', async () => {
    const result = await run(['hash-password'], { stdin: ' pass word \r\n' });
    expect(result.code).toBe(0);
    expect(await verifyPassword(' pass word ', result.stdout.trim())).toBe(true);
  });

  it('salts: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([
      run(['hash-password'], { stdin: 'same' }),
      run(['hash-password'], { stdin: 'same' }),
    ]);
    expect(a.stdout.trim()).not.toBe(b.stdout.trim());
  });

  it('refuses an empty password with exit 2', async () => {
    for (const stdin of ['', '\n']) {
      const result = await run(['hash-password'], { stdin });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
    }
  });
});

describe('which config file', () => {
  const withListen = (port: number) => configFile({ server: { listen: `127.0.0.1:${port}` } });

  it('--config wins over $PORTCULLIS_CONFIG', async () => {
    const flag = withListen(4101);
    const env = withListen(4102);
    const result = await run(['check-config', '--config', flag], {
      env: { PORTCULLIS_CONFIG: env },
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(flag);
    expect(result.stdout).toContain('127.0.0.1:4101');
  });

  it('$PORTCULLIS_CONFIG is used without --config', async () => {
    const env = withListen(4102);
    const result = await run(['check-config'], { env: { PORTCULLIS_CONFIG: env } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(env);
  });

  it('config/portcullis.yaml in the working directory is the default', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'portcullis-cwd-'));
    mkdirSync(join(cwd, 'config'));
    writeFileSync(
      join(cwd, 'config', 'portcullis.yaml'),
      stringify({ server: { listen: '127.0.0.1:4103' } }),
    );
    const result = await run(['check-config'], { cwd });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(join(cwd, 'config', 'portcullis.yaml'));
    expect(result.stdout).toContain('127.0.0.1:4103');
  });

  it('a bad $PORTCULLIS_CONFIG is not rescued by the default file', async () => {
    const result = await run(['check-config'], {
      env: { PORTCULLIS_CONFIG: configFile({ sesion: {} }) },
    });
    expect(result.code).toBe(2);
    expect(problemLines(result.stderr)).toEqual(['sesion: unknown key']);
  });
});

describe('usage errors', () => {
  it.each([[['frobnicate']], [[]], [['check-config', '--no-such-flag']]])(
    '%j exits 2',
    async (args) => {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(result.stdout + result.stderr).toMatch(/usage: portcullis/);
    },
  );
});

describe('serve --anonymous-mode', () => {
  let stop: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await stop?.();
    stop = null;
  });

  it('lets a request without a session through as anonymous_user', async () => {
    const port = await freePort();
    const path = configFile({
      server: { listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${port}` },
      auth: { secret_key: KEY },
      anonymous_mode: false,
      log: { level: 'warn' },
    });
    const child = spawn(process.execPath, [BIN, 'serve', '--anonymous-mode', '--config', path], {
      cwd: ROOT,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
    stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    };
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => (await fetch(`${base}/auth/healthz`)).status === 200,
      15_000,
      'portcullis serve',
    );
    const response = await fetch(`${base}/auth/nginx`, {
      headers: { 'x-original-url': 'http://app.test/private' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('remote-user')).toBe('anonymous');
    expect(response.headers.get('remote-email')).toBe('anonymous@localhost');
    // The start-up warning says so loudly.
    expect(output).toMatch(/anonymous_mode is on/);
    await stop();
    stop = null;
    expect(await exited).toBe(0);
  });
});
