import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from './daemon.js';

export interface NginxServer {
  dir: string;
  /** The error log so far (for failure messages). */
  errorLog(): string;
  stop(): Promise<void>;
}

export { accepts } from './daemon.js';

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
  const daemon = await startDaemon({
    command: 'nginx',
    args: ['-p', dir, '-c', confPath],
    aptPackage: 'nginx',
    dir,
    ports,
    stopSignal: 'SIGQUIT',
    describe: errorLog,
  });
  return { dir, errorLog, stop: daemon.stop };
}
