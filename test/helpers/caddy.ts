import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepts } from './nginx.js';
import { waitFor } from './ports.js';

export interface CaddyServer {
  dir: string;
  /** What Caddy printed so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a real Caddy (the Debian package) on a Caddyfile, with its own data and config dirs.
 * A missing binary or a Caddyfile Caddy refuses rejects: the test fails, it is never skipped.
 */
export async function startCaddy(caddyfile: string, ports: number[]): Promise<CaddyServer> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-caddy-'));
  const path = join(dir, 'Caddyfile');
  writeFileSync(path, caddyfile);
  let output = '';
  const child: ChildProcess = spawn('caddy', ['run', '--config', path, '--adapter', 'caddyfile'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOME: dir,
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CONFIG_HOME: join(dir, 'config'),
    },
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  let failure: Error | null = null;
  child.once('error', (error) => {
    failure = new Error(`cannot start caddy (install it: apt-get install caddy): ${error.message}`);
  });
  child.once('exit', (code) => {
    failure ??= new Error(`caddy exited with ${code}:\n${output}`);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        // An early exit ends the wait at once; it is reported below.
        if (failure) return true;
        for (const port of ports) if (!(await accepts(port))) return false;
        return true;
      },
      15_000,
      'caddy to listen',
    );
    if (failure) throw failure;
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, output: () => output, stop };
}
