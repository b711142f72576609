// `npm run bench`: the auth check against its limit (issue 2, "Performance").
//
// One run starts a bare node:http server and three portcullis processes (memory store twice,
// Redis store on a real redis-server), signs in to each through a one-time link, and loads
// `/auth/nginx` with the session cookie using wrk (the bare server gets the very same request
// bytes). Each portcullis load runs between two loads of the bare server and is compared with
// their mean, so drift in this shared VM's speed hits both sides alike; medians over all such
// sandwiches. Servers are pinned to CPU 0, wrk and
// redis-server to CPU 1, when `taskset` works (BASELINE.md). Besides req/s and latency, each
// server's CPU time per answer is read from /proc: neighbours' load moves it far less than req/s.
// A benchmark, not a test: it exits 0 whatever the figures.
//
// Knobs: BENCH_ROUNDS (5), BENCH_DURATION seconds per load (5), BENCH_CONNECTIONS (50), BENCH_PIN=0 to
// leave placement to the kernel, BENCH_ONLY=memory,redis to run a subset (bare always runs),
// BENCH_PROFILE=1 to run the servers under `--cpu-prof` (profiles land in bench/profiles/; read
// one with `node bench/top-profile.mjs FILE`), BENCH_PERF=1 to record each load but its first and last second with
// `perf record -g` (servers get --perf-basic-prof; files bench/profiles/perf-NAME-ROUND.data).
// BENCH_BASELINE=DIR (a built checkout of another commit, e.g. `git worktree add /tmp/base REV &&
// cd /tmp/base && npm ci && npm run build`) also starts that tree's memory and Redis servers
// ("base-memory", "base-redis") and loads them in the same rounds, so a change is compared with
// its parent in one run, each against the same bare sandwiches.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canPin,
  cpuSeconds,
  fmt,
  freePort,
  http,
  median,
  parseWrk,
  pct,
  processGroup,
  ROOT,
  signIn,
  sleep,
  table,
} from './lib.mjs';

const group = processGroup();
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const WARMUP = 1;
const SECRET = 'b'.repeat(64);
const EMAIL = 'bench@example.com';
const TARGET_URL = 'https://app.example.test/dashboard/index.html?tab=1';
const TARGETS = { memory: 0.85, redis: 0.7, p99: 1.5 };
// The bare server's answer carries three identity headers; portcullis is configured to send
// the same three, so both put the same answer on the wire and the difference is the check
// itself. `memory-default` keeps the default header names (seven headers), to show their cost;
// it puts a longer answer on the wire than the bare server, so no target is checked on it.
const SAME_HEADERS_AS_BARE = {
  user: ['Remote-User'],
  email: ['Remote-Email'],
  name: [],
  groups: ['Remote-Groups'],
};
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : null;
const PROFILE = process.env.BENCH_PROFILE === '1';
const PERF = process.env.BENCH_PERF === '1';
const BASELINE = process.env.BENCH_BASELINE || null;
const PROFILE_FLAGS = [
  ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench/profiles')] : []),
  ...(PERF ? ['--perf-basic-prof'] : []),
];

function log(message) {
  process.stderr.write(`bench: ${message}\n`);
}

process.on('exit', group.stopAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

async function waitUntil(what, check, child, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) {
      throw new Error(`${what} exited (${child.exitCode}):\n${child.output}`);
    }
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}\n${child?.output ?? ''}`);
    await sleep(50);
  }
}

async function startBare() {
  const port = await freePort();
  const child = group.start(0, process.execPath, [
    ...PROFILE_FLAGS,
    join(ROOT, 'bench/bare-server.mjs'),
    String(port),
  ]);
  const url = `http://127.0.0.1:${port}/auth/nginx`;
  await waitUntil('bare server', async () => (await http(url)).status === 200, child);
  return { url, cookie: null, pid: child.pid, bare: true };
}

async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-redis-'));
  group.tempDirs.push(dir);
  const child = group.start(1, 'redis-server', [
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
  ]);
  await waitUntil(
    'redis-server',
    () =>
      spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() ===
      'PONG',
    child,
  );
  return `redis://127.0.0.1:${port}/0`;
}

/** Starts `bin/portcullis.js serve` with its own config and signs in once; returns the cookie. */
async function startPortcullis(name, storeUrl, headers = SAME_HEADERS_AS_BARE, root = ROOT) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `portcullis-bench-${name}-`));
  group.tempDirs.push(dir);
  const origin = `http://127.0.0.1:${port}`;
  const config = {
    server: { listen: `127.0.0.1:${port}`, public_url: origin },
    auth: { secret_key: SECRET, enabled_auth: ['magic_link'], magic_link: { mailer: 'log' } },
    store: { url: storeUrl },
    log: { level: 'warn' },
    ...(headers ? { headers } : {}),
  };
  const configPath = join(dir, 'portcullis.yaml');
  // JSON is YAML.
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const bin = join(root, 'bin/portcullis.js');
  const child = group.start(0, process.execPath, [
    // As `npm start` and the Docker image run it (docs/performance.md).
    '--no-memory-reducer',
    ...PROFILE_FLAGS,
    bin,
    'serve',
    '--config',
    configPath,
  ]);
  await waitUntil(
    `portcullis (${name})`,
    async () => (await http(`${origin}/auth/healthz`)).status === 200,
    child,
  );

  const cookie = await signIn(configPath, origin, EMAIL, root);
  return { url: `${origin}/auth/nginx`, cookie, pid: child.pid, configPath, root };
}

function requestHeaders(server) {
  const headers = { 'X-Original-URL': TARGET_URL, 'X-Original-Method': 'GET' };
  if (server.cookie) headers.Cookie = server.cookie;
  if (server.authorization) headers.Authorization = server.authorization;
  return headers;
}

/** An app token for EMAIL from `portcullis token create` (a Redis store: the CLI shares it). */
function createToken(server) {
  const made = spawnSync(
    process.execPath,
    [
      join(server.root, 'bin/portcullis.js'),
      'token',
      'create',
      EMAIL,
      '--name',
      'bench',
      '--config',
      server.configPath,
    ],
    { cwd: server.root, encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`token create failed: ${made.stderr}`);
  return made.stdout.trim().split('\n').pop();
}

/** The exact request wrk will send must be allowed, with identity headers and a length. */
async function checkAnswer(name, server) {
  const res = await http(server.url, { headers: requestHeaders(server) });
  const ok =
    res.status === 200 &&
    res.headers['content-length'] === '0' &&
    res.headers['remote-email'] === EMAIL &&
    res.headers['transfer-encoding'] === undefined;
  if (!ok) {
    throw new Error(
      `${name}: unexpected answer ${res.status} ${JSON.stringify(res.headers)} ${res.body}`,
    );
  }
  if (!server.bare && !server.authorization) {
    const anonymous = await http(server.url, { headers: { 'X-Original-URL': TARGET_URL } });
    if (anonymous.status !== 401)
      throw new Error(`${name}: no cookie answered ${anonymous.status}`);
  }
}

/** Aggregate CPU counters from /proc/stat (Linux): total and steal jiffies, or null. */
function cpuTotals() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    return { total: values.reduce((a, b) => a + b, 0), steal: values[7] ?? 0 };
  } catch {
    return null;
  }
}

function loadAverage() {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

/** BENCH_PERF: samples `pid` with call stacks for all but the first and last second of a load. */
function perfRecord(pid, file, seconds) {
  mkdirSync(join(ROOT, 'bench/profiles'), { recursive: true });
  const timer = setTimeout(() => {
    group.start(1, 'perf', [
      'record',
      '-e',
      'cpu-clock',
      '-F',
      '1999',
      '-g',
      '-o',
      join(ROOT, 'bench/profiles', file),
      '-p',
      String(pid),
      '--',
      'sleep',
      String(seconds - 2),
    ]);
  }, 1000);
  timer.unref();
}

function wrk(server, seconds, label = null) {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency'];
  for (const [name, value] of Object.entries(requestHeaders(server))) {
    args.push('-H', `${name}: ${value}`);
  }
  args.push(server.url);
  const cpuBefore = cpuSeconds(server.pid);
  if (PERF && label && seconds >= 3) perfRecord(server.pid, `perf-${label}.data`, seconds);
  return new Promise((resolve, reject) => {
    const child = group.start(1, 'wrk', args);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`wrk exited ${code}:\n${child.output}`));
      else {
        try {
          const result = parseWrk(child.output);
          // Server CPU per answer: steadier than req/s when neighbours steal CPU time.
          result.cpuUsPerRequest =
            ((cpuSeconds(server.pid) - cpuBefore) * 1e6) / Math.max(1, result.requests);
          resolve(result);
        } catch (error) {
          reject(error);
        }
      }
    });
  });
}

async function main() {
  const startedAt = new Date();
  const loadBefore = loadAverage();
  const cpuBefore = cpuTotals();
  log(`pinning: ${canPin ? 'servers on CPU 0, wrk and redis-server on CPU 1' : 'off'}`);
  const wanted = (name) => name === 'bare' || !ONLY || ONLY.includes(name);
  const servers = { bare: await startBare() };
  if (wanted('memory')) servers.memory = await startPortcullis('memory', 'memory://');
  if (wanted('memory-default')) {
    servers['memory-default'] = await startPortcullis('memory-default', 'memory://', null);
  }
  if (wanted('redis')) servers.redis = await startPortcullis('redis', await startRedis());
  // The same Redis-backed server, checked with an app token instead of the cookie.
  if (wanted('redis-token') && servers.redis) {
    servers['redis-token'] = {
      ...servers.redis,
      cookie: null,
      authorization: `Bearer ${createToken(servers.redis)}`,
    };
  }
  if (BASELINE) {
    if (wanted('memory')) {
      servers['base-memory'] = await startPortcullis(
        'base-memory',
        'memory://',
        undefined,
        BASELINE,
      );
    }
    if (wanted('redis')) {
      servers['base-redis'] = await startPortcullis(
        'base-redis',
        await startRedis(),
        undefined,
        BASELINE,
      );
    }
  }
  const names = Object.keys(servers);
  // The bare server gets the very same request bytes, cookie included.
  servers.bare.cookie = (servers.memory ?? servers.redis ?? servers['memory-default'])?.cookie;
  for (const name of names) await checkAnswer(name, servers[name]);

  for (const name of names) {
    log(`warm-up ${name} (${WARMUP} s)`);
    await wrk(servers[name], WARMUP);
  }

  // Every portcullis load is sandwiched between two loads of the bare server, and its ratios are
  // taken against the mean of those two: this VM's speed drifts by 10-20 % over tens of seconds
  // (everything, the kernel included, slows alike), and a neighbour measured 20 s away would
  // carry that drift into the ratio. Medians over all sandwiches.
  const others = names.filter((name) => name !== 'bare');
  const runs = [];
  const measure = async (name, round) => {
    const r = await wrk(servers[name], DURATION, `${name}-${round + 1}`);
    runs.push({ name, round: round + 1, ...r });
    log(
      `round ${round + 1}/${ROUNDS} ${name.padEnd(14)} ${fmt(r.rps)} req/s  p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms  cpu ${fmt(r.cpuUsPerRequest, 1)} µs/req`,
    );
    if (r.non2xx > 0 || r.socketErrors) {
      log(`  WARNING ${name}: ${r.non2xx} non-2xx answers, socket errors: ${r.socketErrors}`);
    }
  };
  await measure('bare', 0);
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order so no target always runs first in a round.
    for (let i = 0; i < others.length; i++) {
      await measure(others[(i + round) % others.length], round);
      await measure('bare', round);
    }
  }
  const sandwiches = (name) =>
    runs.flatMap((run, i) => {
      if (run.name !== name) return [];
      const before = runs[i - 1];
      const after = runs[i + 1];
      const bare = (key) => (before[key] + after[key]) / 2;
      return [
        {
          rps: run.rps / bare('rps'),
          p99: run.p99 / bare('p99'),
          cpu: bare('cpuUsPerRequest') / run.cpuUsPerRequest,
        },
      ];
    });

  const summary = {};
  for (const name of names) {
    const own = runs.filter((run) => run.name === name);
    const of = (key) => median(own.map((run) => run[key]));
    const ratios = name === 'bare' ? [] : sandwiches(name);
    summary[name] = {
      rps: of('rps'),
      p50: of('p50'),
      p99: of('p99'),
      rpsRatio: name === 'bare' ? 1 : median(ratios.map((r) => r.rps)),
      p99Ratio: name === 'bare' ? 1 : median(ratios.map((r) => r.p99)),
      cpuUsPerRequest: of('cpuUsPerRequest'),
      // What req/s would be, relative to bare, if both were purely CPU-bound: less sensitive to
      // neighbours than req/s, since CPU time another process steals is not counted.
      cpuRatio: name === 'bare' ? 1 : median(ratios.map((r) => r.cpu)),
      // Each sandwich's req/s ratio, to show the spread.
      rpsRatios: ratios.map((r) => Number(r.rps.toFixed(4))),
      non2xx: own.reduce((sum, run) => sum + run.non2xx, 0),
    };
  }

  const checks = [];
  for (const [name, minimum] of [
    ['memory', TARGETS.memory],
    ['redis', TARGETS.redis],
  ]) {
    const s = summary[name];
    if (!s) continue;
    checks.push(
      {
        target: `${name} req/s >= ${minimum * 100} % of bare`,
        value: s.rpsRatio,
        pass: s.rpsRatio >= minimum,
        shown: pct(s.rpsRatio),
      },
      {
        target: `${name} p99 <= ${TARGETS.p99} x bare p99`,
        value: s.p99Ratio,
        pass: s.p99Ratio <= TARGETS.p99,
        shown: `${s.p99Ratio.toFixed(2)} x`,
      },
    );
  }

  if (summary['redis-token'] && summary.redis) {
    const ratio = summary['redis-token'].rpsRatio / summary.redis.rpsRatio;
    checks.push({
      target: 'token check req/s >= 80 % of the cookie check (same Redis server)',
      value: ratio,
      pass: ratio >= 0.8,
      shown: pct(ratio),
    });
  }

  const label = {
    bare: 'bare node:http (200 + 3 headers)',
    memory: 'memory: portcullis, memory store, same 3 headers',
    'memory-default': 'memory-default: same, default 7 headers',
    redis: 'redis: portcullis, Redis store, same 3 headers',
    'redis-token': 'redis-token: the same server, app token instead of cookie',
    'base-memory': `base-memory: ${BASELINE}, memory store`,
    'base-redis': `base-redis: ${BASELINE}, Redis store`,
  };
  const rows = [
    [
      '',
      'req/s',
      'p50 ms',
      'p99 ms',
      'req/s vs bare',
      'p99 vs bare',
      'CPU µs/req',
      'bare CPU ÷ CPU',
    ],
  ];
  for (const name of names) {
    const s = summary[name];
    rows.push([
      label[name],
      fmt(s.rps),
      fmt(s.p50, 2),
      fmt(s.p99, 2),
      name === 'bare' ? '100 %' : pct(s.rpsRatio),
      name === 'bare' ? '1.00 x' : `${s.p99Ratio.toFixed(2)} x`,
      fmt(s.cpuUsPerRequest, 1),
      name === 'bare' ? '100 %' : pct(s.cpuRatio),
    ]);
  }
  const cpuAfter = cpuTotals();
  const stealPercent =
    cpuBefore && cpuAfter && cpuAfter.total > cpuBefore.total
      ? (100 * (cpuAfter.steal - cpuBefore.steal)) / (cpuAfter.total - cpuBefore.total)
      : Number.NaN;
  const loadAfter = loadAverage();
  // The bench itself keeps about two processes busy; more than that is someone else's work.
  const busy = Math.max(loadBefore, loadAfter) > 3;
  const out = [
    '',
    `portcullis bench — wrk -t1 -c${CONNECTIONS} -d${DURATION}s --latency, ${ROUNDS} rounds, each load between two bare loads, ratios against their mean, then medians`,
    `node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), ${canPin ? 'servers pinned to CPU 0, wrk to CPU 1' : 'unpinned'}`,
    `load average ${fmt(loadBefore, 2)} before, ${fmt(loadAfter, 2)} after; CPU steal ${fmt(stealPercent, 1)} %${busy ? ' — the machine was busy with other work: expect noise, compare ratios, rerun' : ''}`,
    '',
    table(rows),
    '',
    ...checks.map((c) => `${c.pass ? 'PASS' : 'MISS'}  ${c.target}: ${c.shown}`),
    '',
  ];
  process.stdout.write(out.join('\n'));
  const bad = names.filter((n) => summary[n].non2xx > 0);
  if (bad.length)
    process.stdout.write(`WARNING: non-2xx answers under load for ${bad.join(', ')}\n`);

  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const result = {
    date: startedAt.toISOString(),
    commit: head.status === 0 ? head.stdout.trim() : null,
    node: process.version,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? null,
    pinned: canPin,
    loadAverage: { before: loadBefore, after: loadAfter },
    stealPercent,
    wrk: { threads: 1, connections: CONNECTIONS, durationSeconds: DURATION, warmupSeconds: WARMUP },
    request: { path: '/auth/nginx', headers: ['X-Original-URL', 'X-Original-Method', 'Cookie'] },
    targets: TARGETS,
    summary,
    checks: checks.map(({ target, value, pass }) => ({ target, value, pass })),
    runs,
  };
  const resultsDir = join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write('results written to bench/results/latest.json\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`bench: failed: ${error instanceof Error ? error.stack : error}\n`);
    process.exit(1);
  },
);
