import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './ports.js';

export interface NginxServer {
  dir: string;
  /** The error log so far (for failure messages). */
  errorLog(): string;
  stop(): Promise<void>;
}

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts a real nginx (the Debian package) in the foreground with its own prefix, pid, logs and
 * temp paths. `httpBlock` is what goes inside `http {}`, e.g. a conf.d file from examples/.
 * A missing binary or a config nginx refuses rejects: the test fails, it is never skipped.
 */
export async function startNginx(httpBlock: string, ports: number[]): Promise<NginxServer> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-nginx-'));
  for (const sub of ['logs', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) {
    mkdirSync(join(dir, sub), { recursive: true });
  }
  const errorLogPath = join(dir, 'logs/error.log');
  // As root the master would drop workers to `nobody`, which cannot write the temp paths here.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const main = `${user}worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${errorLogPath} warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'tmp/body')};
  proxy_temp_path ${join(dir, 'tmp/proxy')};
  fastcgi_temp_path ${join(dir, 'tmp/fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp/uwsgi')};
  scgi_temp_path ${join(dir, 'tmp/scgi')};
${httpBlock}
}
`;
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, main);
  const errorLog = () => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');
  let output = '';
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-c', confPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  let failure: Error | null = null;
  child.once('error', (error) => {
    failure = new Error(`cannot start nginx (install it: apt-get install nginx): ${error.message}`);
  });
  child.once('exit', (code) => {
    failure ??= new Error(`nginx exited with ${code}:\n${output}\n${errorLog()}`);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGQUIT');
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
      'nginx to listen',
    );
    if (failure) throw failure;
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, errorLog, stop };
}
