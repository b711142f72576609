import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_SECRET, writeConfig } from './app.js';
import { freePort, waitFor } from './ports.js';

/**
 * Runs the real `portcullis` binary (`bin/portcullis.js` → `dist/main.js`) as child processes.
 * It runs the compiled code: `npm test` builds first (`npm run build && vitest run`); when running
 * a single file by hand after editing `src/`, run `npm run build` first. A missing build fails
 * loudly; a stale one is reported on stderr.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'portcullis.js');
const DIST_MAIN = join(ROOT, 'dist', 'main.js');

/** Environment the binary reads; cleared so the machine's settings cannot leak into a test. */
const CONTROLLED_ENV = [
  'PORTCULLIS_CONFIG',
  'PORTCULLIS_SECRET_KEY',
  'PORTCULLIS_LISTEN',
  'PORTCULLIS_PUBLIC_URL',
  'REDIS_URL',
];

function newestMtime(dir: string): { path: string; mtime: number } {
  let newest = { path: dir, mtime: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const candidate = entry.isDirectory()
      ? newestMtime(path)
      : { path, mtime: statSync(path).mtimeMs };
    if (candidate.mtime > newest.mtime) newest = candidate;
  }
  return newest;
}

let buildChecked = false;

function checkBuild(): void {
  if (buildChecked) return;
  if (!existsSync(DIST_MAIN)) {
    throw new Error(`${DIST_MAIN} is missing: run \`npm run build\` (npm test does it first)`);
  }
  const source = newestMtime(join(ROOT, 'src'));
  if (source.mtime > statSync(DIST_MAIN).mtimeMs) {
    process.stderr.write(
      `warning: ${source.path} is newer than dist/: the process tests run the last build (npm run build)\n`,
    );
  }
  buildChecked = true;
}

function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONTROLLED_ENV) delete env[name];
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Keeps the last `limit` characters of a stream, for failure messages. */
function collect(child: ChildProcess, limit = 256 * 1024): () => string {
  let text = '';
  const add = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.length > limit) text = text.slice(-limit);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => text;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to completion (e.g. `login-url`, `check-config`). */
export function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<CliResult> {
  checkBuild();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: childEnv(options.env ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
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
      reject(new Error(`portcullis ${args.join(' ')} did not finish in time\n${stdout}${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

export interface PortcullisProcess {
  /** `http://127.0.0.1:port` */
  url: string;
  port: number;
  configPath: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr, interleaved). */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** How long to wait for `/auth/healthz` (startup waits up to 5 s for Redis before listening). */
  timeoutMs?: number;
}

/**
 * Starts `portcullis serve --config FILE` on a free port with `config` (an object written as
 * YAML; `server.listen`/`public_url`, a test secret key and `info` logs are filled in unless
 * given), and resolves once `/auth/healthz` answers 200.
 */
export async function startPortcullis(
  config: Record<string, unknown>,
  options: StartOptions = {},
): Promise<PortcullisProcess> {
  checkBuild();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = (config.server as Record<string, unknown> | undefined) ?? {};
  const auth = (config.auth as Record<string, unknown> | undefined) ?? {};
  const full = {
    log: { level: 'info' },
    ...config,
    server: { listen: `127.0.0.1:${port}`, public_url: url, ...server },
    auth: { secret_key: TEST_SECRET, ...auth },
  };
  const configPath = writeConfig(full);
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configPath], {
    cwd: ROOT,
    env: childEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(child);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolveExit();
    });
  });
  const stop = async (graceMs = 5000) => {
    if (exitCode !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitFor(
      async () => {
        if (exitCode !== undefined) throw new Error('exited');
        return (await fetch(`${url}/auth/healthz`)).status === 200;
      },
      options.timeoutMs ?? 20_000,
      'portcullis /auth/healthz',
    );
  } catch (error) {
    await stop(1000);
    throw new Error(
      `portcullis did not start (exit ${String(exitCode)}): ${(error as Error).message}\n${output()}`,
    );
  }
  if (exitCode !== undefined) {
    throw new Error(`portcullis exited during startup (exit ${String(exitCode)})\n${output()}`);
  }
  return { url, port, configPath, child, output, stop };
}

const CSRF = 'p'.repeat(43);

/**
 * Presses the button behind a one-time login link on `base` (POST /auth/magic with a
 * double-submit CSRF cookie and field) and returns the session cookie value.
 */
export async function redeemLoginLink(
  base: string,
  link: string,
  cookieName = 'portcullis_session',
): Promise<string> {
  const token = new URL(link).searchParams.get('token');
  if (!token) throw new Error(`not a login link: ${link}`);
  const response = await postForm(`${base}/auth/magic`, { token });
  const match = new RegExp(`${cookieName}=([^;]+)`).exec(response.headers.get('set-cookie') ?? '');
  if (response.status !== 303 || !match?.[1]) {
    throw new Error(`redeeming the link failed: ${response.status} ${await response.text()}`);
  }
  return match[1];
}

/** POSTs a form to portcullis with the double-submit CSRF cookie and field filled in. */
export function postForm(
  url: string,
  fields: Record<string, string>,
  cookies: Record<string, string> = {},
): Promise<Response> {
  const cookie = Object.entries({ ...cookies, portcullis_csrf: CSRF })
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({ ...fields, csrf: CSRF }).toString(),
  });
}
