import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from './daemon.js';

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
  const daemon = await startDaemon({
    command: 'caddy',
    args: ['run', '--config', path, '--adapter', 'caddyfile'],
    aptPackage: 'caddy',
    dir,
    ports,
    stopSignal: 'SIGTERM',
    env: {
      ...process.env,
      HOME: dir,
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CONFIG_HOME: join(dir, 'config'),
    },
  });
  return { dir, output: daemon.output, stop: daemon.stop };
}
