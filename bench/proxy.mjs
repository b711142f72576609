// `node bench/proxy.mjs` (part of `npm run bench`): the reverse proxy against the upstream
// served directly (issue 5, "Performance").
//
// One run starts a node:http upstream (1 KiB body, WebSocket echo) and, each in its own
// process, the proxy candidates: http-proxy 1.18, a plain undici stream() proxy, portcullis'
// engine alone, and portcullis itself in reverse-proxy mode with a signed-in session (the auth
// check included). wrk loads each in interleaved rounds; ratios to "direct" are taken per round,
// then the median. WebSocket echo round trips are timed direct, through http-proxy and through
// portcullis. Servers are pinned to CPU 0, wrk and the WebSocket client to CPU 1 when `taskset`
// works (BASELINE.md). A benchmark, not a test: it exits 0 once it has numbers.
//
// Knobs: BENCH_ROUNDS (3), BENCH_DURATION seconds (5), BENCH_CONNECTIONS (50), BENCH_PIN=0,
// BENCH_ONLY=direct,portcullis to run a subset, BENCH_WS_ROUNDTRIPS (2000), BENCH_JSON=FILE,
// BENCH_CEILING=1 to add the tcp-relay and llhttp-both ceilings.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  CPUS,
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
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const WS_ROUNDTRIPS = Number(process.env.BENCH_WS_ROUNDTRIPS ?? 2000);
const WARMUP = 2;
const SECRET = 'b'.repeat(64);
const EMAIL = 'bench@example.com';
const TARGETS = { ratio: 0.4, wsAddedMs: 0.3 };
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : null;
// BENCH_CEILING=1 adds two non-proxies that bound what a Node design can reach (proxy-servers.mjs).
const CEILING = process.env.BENCH_CEILING === '1' ? ['tcp-relay', 'llhttp-both'] : [];
// BENCH_BASELINE=DIR (a built checkout of another commit) adds `base-portcullis`: that tree's
// proxy over the same upstream, in the same rounds (see bench/run.mjs). Several DIRs, comma-
// separated, add one `base-<dir name>` each: a bisect measured in one set of rounds.
const BASELINES = (process.env.BENCH_BASELINE ?? '').split(',').filter(Boolean);
const baseName = (dir) =>
  BASELINES.length === 1 ? 'base-portcullis' : `base-${dir.replace(/\/+$/, '').split('/').pop()}`;
const BASE_DIRS = new Map(BASELINES.map((dir) => [baseName(dir), dir]));
const CANDIDATES = [
  'direct',
  'http-proxy',
  'undici-stream',
  'engine',
  'portcullis',
  ...BASE_DIRS.keys(),
  ...CEILING,
].filter((name) => !ONLY || name === 'direct' || ONLY.includes(name));

let upstreamPid = 0;
const log = (message) => process.stderr.write(`bench/proxy: ${message}\n`);

if (canPin) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)]);

/** Starts a bench/proxy-servers.mjs process and waits for the port it prints. */
async function startServer(kind, upstreamPort = 0) {
  const child = group.start(0, process.execPath, [
    join(ROOT, 'bench/proxy-servers.mjs'),
    kind,
    String(upstreamPort),
  ]);
  const deadline = Date.now() + 15_000;
  while (!/^\d+\n/.test(child.output)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${kind} did not start:\n${child.output}`);
    await sleep(50);
  }
  return {
    url: `http://127.0.0.1:${Number.parseInt(child.output, 10)}`,
    pid: child.pid,
    headers: {},
  };
}

/** portcullis serve in reverse-proxy mode, signed in through a one-time link. */
async function startPortcullis(upstreamPort, root = ROOT) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-proxy-'));
  group.tempDirs.push(dir);
  const origin = `http://127.0.0.1:${port}`;
  const config = {
    server: { listen: `127.0.0.1:${port}`, public_url: origin },
    auth: { secret_key: SECRET, enabled_auth: ['magic_link'], magic_link: { mailer: 'log' } },
    store: { url: 'memory://' },
    proxy: { upstream: `http://127.0.0.1:${upstreamPort}` },
    log: { level: 'warn' },
  };
  const configPath = join(dir, 'portcullis.yaml');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const bin = join(root, 'bin/portcullis.js');
  // As `npm start` and the Docker image run it (docs/performance.md).
  const child = group.start(0, process.execPath, [
    '--no-memory-reducer',
    bin,
    'serve',
    '--config',
    configPath,
  ]);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await http(`${origin}/auth/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`portcullis did not start:\n${child.output}`);
    await sleep(100);
  }
  const cookie = await signIn(configPath, origin, EMAIL, root);
  const server = { url: origin, pid: child.pid, headers: { Cookie: cookie } };
  // The request wrk sends must be checked and forwarded; without the cookie it must not be.
  const allowed = await http(`${origin}/`, { headers: server.headers });
  const refused = await http(`${origin}/`, { headers: { Accept: 'application/json' } });
  if (allowed.status !== 200 || allowed.body.length !== 1024 || refused.status !== 401)
    throw new Error(`portcullis answered ${allowed.status}/${refused.status}`);
  return server;
}

function wrk(server, seconds) {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency'];
  for (const [name, value] of Object.entries(server.headers)) args.push('-H', `${name}: ${value}`);
  args.push(`${server.url}/`);
  const proxyBefore = cpuSeconds(server.pid);
  const upstreamBefore = cpuSeconds(upstreamPid);
  return new Promise((resolve, reject) => {
    const child = group.start(1, 'wrk', args);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`wrk exited ${code}:\n${child.output}`));
      else {
        try {
          const result = parseWrk(child.output);
          // CPU per answer: steadier than req/s on this shared, CPU-stealing VM.
          const n = Math.max(1, result.requests);
          result.serverUs = ((cpuSeconds(server.pid) - proxyBefore) * 1e6) / n;
          result.upstreamUs = ((cpuSeconds(upstreamPid) - upstreamBefore) * 1e6) / n;
          resolve(result);
        } catch (error) {
          reject(error);
        }
      }
    });
  });
}

/** Sequential echo round trips of a 32-byte text message; returns sorted times in ms. */
async function wsRoundTrips(server, count) {
  const ws = new WebSocket(`${server.url.replace('http:', 'ws:')}/ws`, { headers: server.headers });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`ws refused: ${res.statusCode}`)));
  });
  const message = 'x'.repeat(32);
  const times = [];
  for (let i = 0; i < count + 200; i++) {
    const started = process.hrtime.bigint();
    await new Promise((resolve) => {
      ws.once('message', resolve);
      ws.send(message);
    });
    if (i >= 200) times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  ws.close();
  return times.sort((a, b) => a - b);
}

const at = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];

async function main() {
  log(`pinning: ${canPin ? 'servers on CPU 0, wrk and the WebSocket client on CPU 1' : 'off'}`);
  const upstream = await startServer('upstream');
  upstreamPid = upstream.pid;
  const upstreamPort = Number(new URL(upstream.url).port);
  const servers = { direct: upstream };
  for (const name of CANDIDATES) {
    if (name === 'direct') continue;
    servers[name] =
      name === 'portcullis'
        ? await startPortcullis(upstreamPort)
        : BASE_DIRS.has(name)
          ? await startPortcullis(upstreamPort, BASE_DIRS.get(name))
          : await startServer(name, upstreamPort);
  }
  for (const name of CANDIDATES) {
    const res = await http(`${servers[name].url}/`, { headers: servers[name].headers });
    if (res.status !== 200 || res.body.length !== 1024)
      throw new Error(`${name}: answered ${res.status}`);
    await wrk(servers[name], WARMUP);
  }
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const result = {};
    for (const name of CANDIDATES) {
      result[name] = await wrk(servers[name], DURATION);
      log(`round ${round + 1}/${ROUNDS} ${name}: ${fmt(result[name].rps)} req/s`);
    }
    rounds.push(result);
  }
  const summary = {};
  for (const name of CANDIDATES) {
    summary[name] = {
      rps: median(rounds.map((r) => r[name].rps)),
      p99: median(rounds.map((r) => r[name].p99)),
      ratio: median(rounds.map((r) => r[name].rps / r.direct.rps)),
      // µs of CPU per answer: the proxy process, and the upstream behind it.
      proxyUs: name === 'direct' ? 0 : median(rounds.map((r) => r[name].serverUs)),
      upstreamUs: median(rounds.map((r) => r[name].upstreamUs)),
      non2xx: rounds.reduce((n, r) => n + r[name].non2xx, 0),
    };
  }
  const ws = {};
  for (const name of ['direct', 'http-proxy', 'portcullis', ...BASE_DIRS.keys()]) {
    if (!servers[name]) continue;
    const times = await wsRoundTrips(servers[name], WS_ROUNDTRIPS);
    ws[name] = { p50: at(times, 0.5), p99: at(times, 0.99) };
    log(`websocket ${name}: median ${ws[name].p50.toFixed(3)} ms`);
  }
  // With the servers sharing one CPU, throughput is bounded by the CPU each answer costs:
  // direct's upstream µs over (proxy µs + upstream µs) is the ratio without the VM's noise.
  const directUs = summary.direct.upstreamUs;
  for (const name of CANDIDATES) {
    const s = summary[name];
    s.cpuRatio = directUs / (s.proxyUs + s.upstreamUs);
  }
  const rows = [
    ['target', 'req/s', 'of direct', 'p99 ms', 'proxy CPU µs/req', 'CPU ratio', 'non-2xx'],
  ];
  for (const name of CANDIDATES) {
    const s = summary[name];
    rows.push([
      name,
      fmt(s.rps),
      pct(s.ratio),
      fmt(s.p99, 1),
      name === 'direct' ? `(upstream ${fmt(s.upstreamUs, 1)})` : fmt(s.proxyUs, 1),
      pct(s.cpuRatio),
      String(s.non2xx),
    ]);
  }
  const wsRows = [['WebSocket echo', 'median ms', 'p99 ms', 'added (median)']];
  for (const [name, w] of Object.entries(ws)) {
    wsRows.push([
      name,
      w.p50.toFixed(3),
      w.p99.toFixed(3),
      name === 'direct' ? '' : (w.p50 - ws.direct.p50).toFixed(3),
    ]);
  }
  const verdict = [];
  if (summary.portcullis) {
    const ok = summary.portcullis.ratio >= TARGETS.ratio;
    verdict.push(
      `portcullis ${pct(summary.portcullis.ratio)} of direct req/s, ${pct(summary.portcullis.cpuRatio)} by CPU per answer (target ≥ ${pct(TARGETS.ratio)}): ${ok ? 'met' : 'MISSED'}`,
    );
  }
  if (ws.portcullis) {
    const added = ws.portcullis.p50 - ws.direct.p50;
    verdict.push(
      `WebSocket round trip ${added >= 0 ? '+' : ''}${added.toFixed(3)} ms (target ≤ ${TARGETS.wsAddedMs} ms): ${added <= TARGETS.wsAddedMs ? 'met' : 'MISSED'}`,
    );
  }
  process.stdout.write(
    [
      '',
      `portcullis reverse-proxy bench — wrk -t1 -c${CONNECTIONS} -d${DURATION}s, 1 KiB bodies, ${ROUNDS} interleaved rounds, medians`,
      `node ${process.version}, ${CPUS} CPUs (${cpus()[0]?.model ?? '?'}), ${canPin ? 'servers pinned to CPU 0, wrk to CPU 1' : 'unpinned'}`,
      '',
      table(rows),
      '',
      table(wsRows),
      '',
      ...verdict,
      '',
    ].join('\n'),
  );
  if (process.env.BENCH_JSON) {
    writeFileSync(
      process.env.BENCH_JSON,
      JSON.stringify(
        {
          node: process.version,
          pinned: canPin,
          connections: CONNECTIONS,
          duration: DURATION,
          rounds,
          summary,
          ws,
        },
        null,
        2,
      ),
    );
  }
}

main()
  .catch((error) => {
    process.stderr.write(`bench/proxy failed: ${error.stack ?? error}\n`);
    process.exitCode = 1;
  })
  .finally(group.stopAll);
