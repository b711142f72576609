import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.js';

export interface RedisServer {
  port: number;
  url: string;
  /** SIGKILL the server (a crash, not a shutdown). */
  kill(): Promise<void>;
  /** Start it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function ping(port: number): boolean {
  const result = spawnSync('redis-cli', ['-p', String(port), 'ping'], {
    encoding: 'utf8',
    timeout: 2000,
  });
  return result.stdout.trim() === 'PONG';
}

/** A real redis-server on a free port, no persistence. Fails loudly when the binary is missing. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'));
  let child: ChildProcess | null = null;
  const launch = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      {
        stdio: 'ignore',
      },
    );
    child.on('error', (error) => {
      throw new Error(
        `cannot start redis-server (install it: apt-get install redis-server): ${error.message}`,
      );
    });
    await waitFor(() => ping(port), 10_000, 'redis-server');
  };
  const kill = async () => {
    const current = child;
    // A child killed by a signal keeps `exitCode` null: check both, or a second kill (stop after
    // kill) would wait for an 'exit' that has already happened.
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((r) => current.once('exit', r));
    current.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    kill,
    restart: launch,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
