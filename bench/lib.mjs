// What the two benchmark scripts (run.mjs: the auth check; proxy.mjs: the reverse proxy) share:
// pinning, child processes, wrk output, CPU time from /proc, and the printed tables.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CPUS = availableParallelism();

/** Servers go on CPU 0, the load generator on CPU 1 (BASELINE.md), when taskset works here. */
export const canPin =
  process.env.BENCH_PIN !== '0' &&
  CPUS >= 2 &&
  spawnSync('taskset', ['-c', '1', 'true']).status === 0;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Child processes and temp dirs of one run; `stopAll` ends and removes them. */
export function processGroup() {
  const children = [];
  const tempDirs = [];
  return {
    tempDirs,
    /** Spawns `cmd` on one CPU (when pinning works), collecting its output in `child.output`. */
    start(cpu, cmd, args, options = {}) {
      const [file, argv] = canPin ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
      const child = spawn(file, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options });
      child.output = '';
      child.stdout.on('data', (d) => {
        child.output += d;
      });
      child.stderr.on('data', (d) => {
        child.output += d;
      });
      children.push(child);
      return child;
    },
    stopAll() {
      for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
      for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A small HTTP client for setting up a run (login, checks); not used under load. */
export function http(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.end(body);
  });
}

function toMs(value, unit) {
  const n = Number(value);
  if (unit === 'us') return n / 1000;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  return n;
}

/** Reads `wrk --latency` output. */
export function parseWrk(output) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const latency = (pct) => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output);
    return m ? toMs(m[1], m[2]) : Number.NaN;
  };
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socketErrors = /Socket errors: (.*)/.exec(output);
  const total = /(\d+) requests in/.exec(output);
  if (!rps) throw new Error(`cannot read wrk output:\n${output}`);
  return {
    rps: Number(rps[1]),
    p50: latency(50),
    p99: latency(99),
    requests: total ? Number(total[1]) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: socketErrors ? socketErrors[1] : null,
  };
}

/** CPU seconds a process has used: utime + stime, fields 14 and 15 of stat(5), in USER_HZ (100). */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const fmt = (n, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '—';
export const pct = (r) => (Number.isFinite(r) ? `${(r * 100).toFixed(1)} %` : '—');

/** A plain-text table: first column left-aligned, the rest right-aligned, a rule under the header. */
export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r, ri) =>
      r
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
        .join('  ')
        .concat(ri === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : ''),
    )
    .join('\n');
}

/**
 * Signs EMAIL in to a running `portcullis serve` the way a person would with a handed-out link
 * (`portcullis login-url`, then POST /auth/magic); returns the `portcullis_session=…` cookie.
 */
export async function signIn(configPath, origin, email, root = ROOT) {
  const issued = spawnSync(
    process.execPath,
    [join(root, 'bin/portcullis.js'), 'login-url', email, '--rd', '/', '--config', configPath],
    { cwd: root, encoding: 'utf8' },
  );
  if (issued.status !== 0) throw new Error(`login-url failed: ${issued.stderr}`);
  const link = new URL(issued.stdout.trim().split('\n').pop());
  const form = new URLSearchParams({ token: link.searchParams.get('token') }).toString();
  const redeemed = await http(`${origin}/auth/magic`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(form),
    },
    body: form,
  });
  const match = /portcullis_session=([^;]+)/.exec(
    [redeemed.headers['set-cookie'] ?? []].flat().join('\n'),
  );
  if (!match) throw new Error(`sign-in failed: ${redeemed.status} ${redeemed.body}`);
  return `portcullis_session=${match[1]}`;
}
