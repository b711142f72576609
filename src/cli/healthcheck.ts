import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, formatIssue } from '../config/issues.js';
import { type Config, loadConfig } from '../config/load.js';

/**
 * `portcullis healthcheck`: GETs `<prefix>/healthz` on the address `serve` listens on, read
 * from the same config and environment, so a container's HEALTHCHECK follows
 * PORTCULLIS_LISTEN and `server.path_prefix` instead of hard-coding them.
 */

/** Docker reads 0 as healthy and 1 as unhealthy; 2 is reserved, so a config error is 1 too. */
export const HEALTHY = 0;
export const UNHEALTHY = 1;

/** Below Docker's `--timeout=3s`, so the probe reports why rather than being killed. */
const PROBE_TIMEOUT_MS = 2000;

/** Where to reach the server: a wildcard listen address is reached on loopback. */
export function healthzUrl(config: Pick<Config, 'listen' | 'prefix'>): string {
  const { host, port } = config.listen;
  let target = host;
  if (host === '' || host === '0.0.0.0' || host === '0') target = '127.0.0.1';
  else if (isIP(host) === 6) target = /^[0:]+$/.test(host) ? '[::1]' : `[${host}]`;
  return `http://${target}:${port}${config.prefix}/healthz`;
}

/**
 * The `--config` of a `portcullis serve` command line (NUL-separated, as in /proc/PID/cmdline),
 * `null` for a serve without one, `undefined` when the line is not a portcullis serve.
 */
export function serveConfigArg(cmdline: string): string | null | undefined {
  const args = cmdline.split('\0').filter((arg) => arg !== '');
  const bin = args.findIndex((arg) => /(^|\/)portcullis(\.js)?$/.test(arg));
  if (bin === -1) return undefined;
  const rest = args.slice(bin + 1);
  if (!rest.includes('serve')) return undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if ((arg === '--config' || arg === '-c') && rest[i + 1] !== undefined) return rest[i + 1];
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return null;
}

/**
 * Whether /proc/PID is init or one of its children: a container's entrypoint (also under
 * `docker run --init`) or a service of the host's init system, never a shell's child.
 */
function startedByInit(pid: string): boolean {
  if (pid === '1') return true;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
  const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  return ppid === '1';
}

/**
 * The config file of the one `portcullis serve` that init runs (in a container: the entrypoint,
 * started with whatever `--config` the operator passed to `docker run`). `undefined` when there
 * is none, several, or /proc cannot be read: the caller then falls back to the default path.
 */
function runningServeConfig(): string | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const found = new Set<string>();
  for (const pid of pids) {
    try {
      const arg = serveConfigArg(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      if (arg === undefined || !startedByInit(pid)) continue;
      // A serve without --config reads PORTCULLIS_CONFIG or the default, as this command does.
      if (arg === null) return undefined;
      found.add(isAbsolute(arg) ? arg : resolve(readlinkSync(`/proc/${pid}/cwd`), arg));
    } catch {
      // Gone, or another user's process.
    }
  }
  return found.size === 1 ? [...found][0] : undefined;
}

export interface HealthcheckResult {
  code: typeof HEALTHY | typeof UNHEALTHY;
  message: string;
}

export async function healthcheck(
  configPath: string | undefined,
  env: Record<string, string | undefined> = process.env,
): Promise<HealthcheckResult> {
  let config: Config;
  try {
    // As serve picks it: --config, then PORTCULLIS_CONFIG; serve's own --config stands in for
    // the flag, which a HEALTHCHECK baked into the image cannot know.
    const path = configPath ?? (env.PORTCULLIS_CONFIG ? undefined : runningServeConfig());
    config = loadConfig({ path, env });
  } catch (error) {
    const detail =
      error instanceof ConfigError
        ? error.issues.map(formatIssue).join('; ')
        : (error as Error).message;
    return { code: UNHEALTHY, message: `unhealthy: cannot read the config: ${detail}` };
  }
  const url = healthzUrl(config);
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      redirect: 'manual',
    });
    await response.body?.cancel();
    if (response.status === 200) return { code: HEALTHY, message: `healthy: ${url}` };
    return { code: UNHEALTHY, message: `unhealthy: ${url} answered ${response.status}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    const reason = (error as Error).name === 'TimeoutError' ? 'timed out' : (cause ?? 'failed');
    return { code: UNHEALTHY, message: `unhealthy: ${url} ${reason}` };
  }
}
