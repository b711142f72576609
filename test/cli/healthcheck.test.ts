import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { healthzUrl, serveConfigArg } from '../../src/cli/healthcheck.js';
import { freePort, waitFor } from '../helpers/ports.js';

/**
 * `portcullis healthcheck` against the real binary (run `npx tsc -p tsconfig.build.json` after
 * editing src/; `npm test` builds first). Docker is not available here: the Dockerfile is parsed
 * to check that its HEALTHCHECK runs this command, and a read-only root file system is stood in
 * for by a config dir, HOME and TMPDIR the server cannot write to.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'portcullis.js');
const CLEARED = ['PORTCULLIS_CONFIG', 'PORTCULLIS_SECRET_KEY', 'PORTCULLIS_LISTEN', 'REDIS_URL'];
// As root, file modes stop nobody: the "unwritable" runs drop to nobody instead.
const AS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

interface Identity {
  uid?: number;
  gid?: number;
}

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CLEARED) delete env[name];
  return { ...env, ...extra };
}

function runCli(
  args: string[],
  env: Record<string, string> = {},
  as: Identity = {},
): { code: number | null; out: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: childEnv(env),
    encoding: 'utf8',
    timeout: 20_000,
    ...as,
  });
  const failed = result.error ? `${result.error.message}\n` : '';
  return { code: result.status, out: `${failed}${result.stdout ?? ''}${result.stderr ?? ''}` };
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGKILL');
});

async function serve(
  configPath: string,
  healthz: string,
  env: Record<string, string> = {},
  as: Identity = {},
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configPath], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...as,
  });
  running.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error('exited');
        return (await fetch(healthz)).status === 200;
      },
      15_000,
      healthz,
    );
  } catch (error) {
    throw new Error(`serve did not answer ${healthz}: ${(error as Error).message}\n${output}`);
  }
  return { child, output: () => output };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

function writeConfigIn(dir: string, config: Record<string, unknown>): string {
  const path = join(dir, 'portcullis.yaml');
  writeFileSync(path, stringify({ log: { level: 'warn' }, ...config }));
  return path;
}

describe('healthzUrl', () => {
  const cases: [string, number, string, string][] = [
    ['127.0.0.1', 4180, '/auth', 'http://127.0.0.1:4180/auth/healthz'],
    ['0.0.0.0', 8080, '/gate', 'http://127.0.0.1:8080/gate/healthz'],
    ['0', 8080, '/auth', 'http://127.0.0.1:8080/auth/healthz'],
    ['::', 4180, '/sso/auth', 'http://[::1]:4180/sso/auth/healthz'],
    ['0:0::0', 4180, '/auth', 'http://[::1]:4180/auth/healthz'],
    ['::1', 4180, '/auth', 'http://[::1]:4180/auth/healthz'],
    ['fd00::5', 9000, '/auth', 'http://[fd00::5]:9000/auth/healthz'],
    ['auth.internal', 4180, '/auth', 'http://auth.internal:4180/auth/healthz'],
  ];
  it.each(cases)('%s:%i%s → %s', (host, port, prefix, url) => {
    expect(healthzUrl({ listen: { host, port }, prefix })).toBe(url);
  });
});

describe('serveConfigArg (a /proc/PID/cmdline)', () => {
  const cases: [string, string | null | undefined][] = [
    ['node\0--no-memory-reducer\0bin/portcullis.js\0serve\0', null],
    ['node\0bin/portcullis.js\0serve\0--config\0/etc/p.yaml\0', '/etc/p.yaml'],
    ['node\0/app/bin/portcullis.js\0serve\0-c\0conf/p.yaml\0', 'conf/p.yaml'],
    ['/usr/local/bin/portcullis\0serve\0--config=/x.yaml\0', '/x.yaml'],
    ['node\0bin/portcullis.js\0healthcheck\0--config\0/etc/p.yaml\0', undefined],
    ['node\0bin/portcullis.js\0check-config\0', undefined],
    ['nginx: master process\0', undefined],
    ['node\0server.js\0serve\0--config\0/x\0', undefined],
    ['', undefined],
  ];
  it.each(cases)('%j → %j', (cmdline, expected) => {
    expect(serveConfigArg(cmdline)).toBe(expected);
  });
});

describe('portcullis healthcheck', () => {
  it('follows PORTCULLIS_LISTEN and server.path_prefix: 0 while up, 1 when down', async () => {
    const filePort = await freePort();
    const envPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-hc-'));
    const config = writeConfigIn(dir, {
      server: { listen: `127.0.0.1:${filePort}`, path_prefix: '/gate/keeper' },
    });
    const env = { PORTCULLIS_LISTEN: `127.0.0.1:${envPort}` };
    const server = await serve(config, `http://127.0.0.1:${envPort}/gate/keeper/healthz`, env);

    const up = runCli(['healthcheck', '--config', config], env);
    expect(up.out, server.output()).toContain(`:${envPort}/gate/keeper/healthz`);
    expect(up.code, up.out).toBe(0);
    // The config's env var is read from the environment, like serve does.
    const viaEnvVar = runCli(['healthcheck'], { ...env, PORTCULLIS_CONFIG: config });
    expect(viaEnvVar.code, viaEnvVar.out).toBe(0);

    // The file's own port is not where serve listens once PORTCULLIS_LISTEN moved it.
    const fileOnly = runCli(['healthcheck', '--config', config]);
    expect(fileOnly.code, fileOnly.out).toBe(1);
    // The same port with the default prefix: serve answers 404 there, which is not healthy.
    const wrongPrefix = writeConfigIn(mkdtempSync(join(tmpdir(), 'portcullis-hc-')), {
      server: { listen: `127.0.0.1:${envPort}` },
    });
    const notFound = runCli(['healthcheck', '--config', wrongPrefix]);
    expect(notFound.out).toContain('answered 404');
    expect(notFound.code).toBe(1);

    await stop(server.child);
    const down = runCli(['healthcheck', '--config', config], env);
    expect(down.out).toMatch(/unhealthy: .*ECONNREFUSED/);
    expect(down.code).toBe(1);
  });

  it('exits 1, never Docker-reserved 2, on a config it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-hc-'));
    const bad = writeConfigIn(dir, { server: { listen: 'nowhere' } });
    for (const path of [bad, join(dir, 'missing.yaml')]) {
      const result = runCli(['healthcheck', '--config', path]);
      expect(result.out).toContain('cannot read the config');
      expect(result.code).toBe(1);
    }
  });
});

/** The instructions of a Dockerfile, continuation lines joined and comments dropped. */
function dockerInstructions(text: string): { op: string; args: string }[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

describe('Dockerfile', () => {
  const instructions = dockerInstructions(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const finalStage = instructions.slice(instructions.findLastIndex((i) => i.op === 'FROM'));

  it('has one HEALTHCHECK, in the runtime stage, that runs `portcullis healthcheck`', () => {
    const checks = instructions.filter((i) => i.op === 'HEALTHCHECK');
    expect(checks).toHaveLength(1);
    const check = finalStage.find((i) => i.op === 'HEALTHCHECK');
    const cmd = /\bCMD\s+(\[.*\])\s*$/.exec(check?.args ?? '');
    expect(cmd, check?.args).not.toBeNull();
    const argv = JSON.parse((cmd as RegExpExecArray)[1] as string) as string[];
    expect(argv).toEqual(['node', 'bin/portcullis.js', 'healthcheck']);
    // The entrypoint runs the same binary, so the probe reads what serve reads.
    const entrypoint = finalStage.find((i) => i.op === 'ENTRYPOINT');
    expect(JSON.parse(entrypoint?.args ?? '[]')).toContain('bin/portcullis.js');
    // No address or prefix of its own to drift from the config.
    expect(check?.args).not.toMatch(/healthz|4180|\/auth/);
  });

  it('runs as an unprivileged user', () => {
    expect(finalStage.filter((i) => i.op === 'USER').map((i) => i.args)).toEqual(['node']);
  });
});

describe('a read-only root file system', () => {
  /** A dir this test can fill but the server cannot write to. */
  function lockedDir(name: string, as: Identity): string {
    const dir = mkdtempSync(join(tmpdir(), `portcullis-ro-${name}-`));
    chmodSync(dir, as.uid === undefined ? 0o555 : 0o755);
    return dir;
  }

  it('serves and passes its healthcheck with no writable config dir, HOME or TMPDIR', async () => {
    const as: Identity = AS_ROOT ? { uid: NOBODY, gid: NOBODY } : {};
    if (AS_ROOT) {
      const probe = runCli(['--version'], {}, as);
      if (probe.code !== 0) {
        // The checkout or this node binary (npm exec's node@24 lives under /root/.npm) is not
        // reachable for nobody: nothing to drop to. The run on the machine's own node covers it.
        console.warn(`skipped: ${BIN} cannot run as nobody: ${probe.out}`);
        return;
      }
    }
    const port = await freePort();
    const configDir = mkdtempSync(join(tmpdir(), 'portcullis-ro-config-'));
    // A memory store and no secret key: the case where start used to write a key file.
    const config = writeConfigIn(configDir, {
      server: { listen: `127.0.0.1:${port}`, path_prefix: '/ro' },
      store: { url: 'memory://' },
    });
    chmodSync(config, 0o444);
    chmodSync(configDir, as.uid === undefined ? 0o555 : 0o755);
    const home = lockedDir('home', as);
    const tmp = lockedDir('tmp', as);
    const env = { HOME: home, TMPDIR: tmp };
    // The lock holds: the same identity cannot write to any of them.
    for (const dir of [configDir, home, tmp]) {
      const write = spawnSync(
        process.execPath,
        ['-e', `require('fs').writeFileSync(${JSON.stringify(join(dir, 'x'))}, 'x')`],
        { env: childEnv(env), ...as },
      );
      expect(write.status, `${dir} is writable`).not.toBe(0);
    }

    const server = await serve(config, `http://127.0.0.1:${port}/ro/healthz`, env, as);
    // A login page needs the session key that could not be saved: it is in memory.
    const login = await fetch(`http://127.0.0.1:${port}/ro/login`);
    expect(login.status).toBe(200);
    const probe = runCli(['healthcheck', '--config', config], env, as);
    expect(probe.code, probe.out).toBe(0);
    expect(server.output()).toContain('login-url cannot sign links');
    await stop(server.child);
    for (const dir of [configDir, home, tmp]) {
      expect(readdirSync(dir).filter((name) => name !== 'portcullis.yaml')).toEqual([]);
    }
  });
});
