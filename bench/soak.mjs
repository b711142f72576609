// `npm run soak`: two portcullis instances on one real redis-server under mixed traffic, with
// every answer checked (issue 11, item 8).
//
// Traffic, all of it verified:
// - checks (`GET /auth/nginx`) on either instance with a live session (200, and the identity
//   headers name that session's user), a revoked one (logged out or deactivated: 401), a forged
//   or tampered cookie (401) and no cookie (401);
// - sign-ins: `portcullis login-url` (the CLI, against the shared store), redeemed with
//   `POST /auth/magic` on either instance;
// - logouts (`POST /auth/logout`) on either instance;
// - SCIM: users created, renamed (PUT) and deactivated (PATCH active:false), which must end
//   their sessions.
// A wrong answer is a 2xx for a check that has no valid session (a wrong allow) or a refusal of
// a live session (a wrong deny). A revoked session gets SPEC §4's 1 s to be refused by the
// instance that did not end it; 2xx inside that second is counted as "stale", never after.
// Every SOAK_REPORT_EVERY seconds (30) it prints throughput, p99, errors, wrong answers and
// each instance's RSS; it ends with a summary line and `soak: result {json}`, and exits 1 on any
// wrong answer or error (an unexpected status, a 5xx, a socket error, a failed sign-in).
//
// Knobs: SOAK_DURATION seconds (60), SOAK_REPORT_EVERY seconds (30), SOAK_CONNECTIONS
// concurrent checkers (16), SOAK_LOGIN_EVERY_MS (1000), SOAK_LOGOUT_EVERY_MS (1500),
// SOAK_SCIM_EVERY_MS (3000).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT, sleep } from './lib.mjs';

const DURATION_S = Number(process.env.SOAK_DURATION ?? 60);
const REPORT_EVERY_S = Number(process.env.SOAK_REPORT_EVERY ?? 30);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 16);
const LOGIN_EVERY_MS = Number(process.env.SOAK_LOGIN_EVERY_MS ?? 1000);
const LOGOUT_EVERY_MS = Number(process.env.SOAK_LOGOUT_EVERY_MS ?? 1500);
const SCIM_EVERY_MS = Number(process.env.SOAK_SCIM_EVERY_MS ?? 3000);
/** SPEC §4: a session ended on one instance is refused by every other within 1 s. */
const REVOCATION_GRACE_MS = 1000;
const SECRET = 'd'.repeat(64);
const SCIM_TOKEN = 'soak-scim-token-0123456789';
const TARGET = 'http://app.example.test/soak/page';
const BIN = join(ROOT, 'bin/portcullis.js');
const USER_URN = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH_URN = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const children = [];
const tempDirs = [];

function log(message) {
  process.stdout.write(`soak: ${message}\n`);
}

function cleanUp() {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanUp);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function startChild(cmd, args, env = process.env) {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  child.output = '';
  const add = (d) => {
    child.output = (child.output + d).slice(-64 * 1024);
  };
  child.stdout.on('data', add);
  child.stderr.on('data', add);
  children.push(child);
  return child;
}

async function waitUntil(what, check, child, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${what} exited (${child.exitCode}):\n${child.output}`);
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${child.output}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP: one keep-alive pool per instance; every call has a deadline.

const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS + 8 });

function call(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = request(url, { method, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: text,
          ms: performance.now() - started,
        }),
      );
      res.on('error', (error) => resolve({ status: 0, error: error.message, ms: 0 }));
    });
    req.on('error', (error) => resolve({ status: 0, error: error.message, ms: 0 }));
    req.setTimeout(5000, () => req.destroy(new Error('client timeout (5 s)')));
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// What is measured: per window and in total.

function newWindow() {
  return {
    requests: 0,
    checks: 0,
    latencies: [],
    errors: 0,
    wrongAllows: 0,
    wrongDenies: 0,
    stale: 0,
  };
}
let window_ = newWindow();
const total = { ...newWindow(), logins: 0, logouts: 0, scimChanges: 0, latencies: undefined };
const errorSamples = [];
/** Checks sent per kind, so a run that never exercised one (no logout yet: no 'ended') shows. */
const checksByKind = { live: 0, ended: 0, tampered: 0, forged: 0, none: 0 };
const wrongSamples = [];

function count(field, sample) {
  window_[field] += 1;
  total[field] += 1;
  const samples = field === 'errors' ? errorSamples : field === 'stale' ? null : wrongSamples;
  if (samples && sample && samples.length < 20) samples.push(sample);
}

function requestDone(ms, isCheck) {
  window_.requests += 1;
  total.requests += 1;
  if (isCheck) {
    window_.checks += 1;
    total.checks += 1;
    window_.latencies.push(ms);
    allLatencies.push(ms);
  }
}
const allLatencies = [];

function p99(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];
}

function rssMb(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions: live ones are expected to pass, ended ones to be refused.

/** @typedef {{ cookie: string, email: string, state: 'live'|'ending'|'ended', endedAt: number, endedOn: number, scimId?: string }} Session */
/** @type {Session[]} */
const live = [];
/** @type {Session[]} */
const ended = [];

/** Sleeps `ms`, but never past `until`: the lanes stop with the clock. */
const nap = (ms, until) => sleep(Math.max(0, Math.min(ms, until - performance.now())));

const pick = (list) => list[Math.floor(Math.random() * list.length)];

function takeLive(filter = () => true) {
  const candidates = live.filter(filter);
  if (candidates.length === 0) return null;
  const session = pick(candidates);
  live.splice(live.indexOf(session), 1);
  session.state = 'ending';
  return session;
}

function markEnded(session, instanceIndex) {
  session.state = 'ended';
  session.endedAt = performance.now();
  session.endedOn = instanceIndex;
  ended.push(session);
  if (ended.length > 200) ended.shift();
}

function tamper(cookie) {
  const i = Math.floor(cookie.length / 2);
  const c = cookie[i] === 'A' ? 'B' : 'A';
  return `${cookie.slice(0, i)}${c}${cookie.slice(i + 1)}`;
}

const randomCookie = () =>
  Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString('base64url');

// ---------------------------------------------------------------------------------------------
// The traffic.

let instances = [];

async function check(instanceIndex, cookie) {
  const headers = { 'x-original-url': TARGET, 'x-original-method': 'GET' };
  if (cookie !== undefined) headers.cookie = `portcullis_session=${cookie}`;
  return call(`${instances[instanceIndex].url}/auth/nginx`, { headers });
}

/** One checker: picks a kind of check, sends it, judges the answer. */
async function checker(until) {
  while (performance.now() < until) {
    const at = Math.floor(Math.random() * instances.length);
    const roll = Math.random();
    let kind;
    let session = null;
    let cookie;
    if (roll < 0.55 && live.length > 0) {
      kind = 'live';
      session = pick(live);
      cookie = session.cookie;
    } else if (roll < 0.7 && ended.length > 0) {
      kind = 'ended';
      session = pick(ended);
      cookie = session.cookie;
    } else if (roll < 0.8 && live.length > 0) {
      kind = 'tampered';
      cookie = tamper(pick(live).cookie);
    } else if (roll < 0.9) {
      kind = 'forged';
      cookie = randomCookie();
    } else {
      kind = 'none';
    }
    const stateBefore = session?.state;
    const answer = await check(at, cookie);
    requestDone(answer.ms, true);
    checksByKind[kind] += 1;
    const sample = { kind, instance: at, status: answer.status, error: answer.error };
    if (answer.status === 0 || answer.status >= 500) {
      count('errors', sample);
      continue;
    }
    const allowed = answer.status >= 200 && answer.status < 300;
    if (kind === 'live') {
      // Logged out or deactivated while this check was in flight: either answer is right.
      if (session.state !== stateBefore) continue;
      if (!allowed) count('wrongDenies', sample);
      else if (answer.headers['remote-email'] !== session.email)
        count('wrongAllows', {
          ...sample,
          got: answer.headers['remote-email'],
          want: session.email,
        });
      continue;
    }
    if (!allowed) {
      if (answer.status !== 401) count('errors', sample);
      continue;
    }
    // A 2xx for a session that is not live.
    if (
      kind === 'ended' &&
      session.endedOn !== at &&
      performance.now() - answer.ms - session.endedAt < REVOCATION_GRACE_MS
    ) {
      count('stale', sample);
    } else {
      count('wrongAllows', sample);
    }
  }
}

/** `portcullis login-url` (async: a blocking spawn would stall every checker) and a redeem. */
function loginUrl(email) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [BIN, 'login-url', email, '--rd', '/', '--config', instances[0].configPath],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: instanceEnv() },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out.trim().split('\n').pop()) : reject(new Error(`login-url: ${err}`)),
    );
  });
}

async function signIn(email, extra = {}) {
  let link;
  try {
    link = new URL(await loginUrl(email));
  } catch (error) {
    count('errors', { kind: 'login-url', error: error.message });
    return null;
  }
  const at = Math.floor(Math.random() * instances.length);
  const form = new URLSearchParams({ token: link.searchParams.get('token') ?? '' }).toString();
  const answer = await call(`${instances[at].url}/auth/magic`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(form),
    },
    body: form,
  });
  requestDone(answer.ms, false);
  const match = /portcullis_session=([^;]+)/.exec(
    [answer.headers?.['set-cookie'] ?? []].flat().join('\n'),
  );
  if (answer.status !== 303 || !match) {
    count('errors', { kind: 'redeem', instance: at, status: answer.status, error: answer.error });
    return null;
  }
  total.logins += 1;
  /** @type {Session} */
  const session = { cookie: match[1], email, state: 'live', endedAt: 0, endedOn: -1, ...extra };
  live.push(session);
  return session;
}

let userCounter = 0;

async function loginLane(until) {
  while (performance.now() < until) {
    const started = performance.now();
    await signIn(`soak-${userCounter++ % 50}@example.com`);
    await nap(LOGIN_EVERY_MS - (performance.now() - started), until);
  }
}

async function logoutLane(until) {
  while (performance.now() < until) {
    await nap(LOGOUT_EVERY_MS, until);
    if (performance.now() >= until) break;
    // Keep a working set of live sessions; SCIM users are ended by SCIM.
    if (live.filter((s) => !s.scimId).length < 6) continue;
    const session = takeLive((s) => !s.scimId);
    if (!session) continue;
    const at = Math.floor(Math.random() * instances.length);
    const answer = await call(`${instances[at].url}/auth/logout`, {
      method: 'POST',
      headers: {
        cookie: `portcullis_session=${session.cookie}`,
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': 0,
      },
      body: '',
    });
    requestDone(answer.ms, false);
    if (answer.status !== 303) {
      count('errors', { kind: 'logout', instance: at, status: answer.status, error: answer.error });
    }
    total.logouts += 1;
    markEnded(session, at);
  }
}

function scim(at, method, path, body) {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return call(`${instances[at].url}/scim/v2${path}`, {
    method,
    headers: {
      authorization: `Bearer ${SCIM_TOKEN}`,
      ...(text
        ? { 'content-type': 'application/scim+json', 'content-length': Buffer.byteLength(text) }
        : {}),
    },
    body: text,
  });
}

/** Creates a user, signs them in, renames them, then deactivates them, on random instances. */
async function scimLane(until) {
  let n = 0;
  while (performance.now() < until) {
    await nap(SCIM_EVERY_MS, until);
    if (performance.now() >= until) break;
    const email = `scim-${process.pid}-${n++}@example.com`;
    const at = () => Math.floor(Math.random() * instances.length);
    const created = await scim(at(), 'POST', '/Users', {
      schemas: [USER_URN],
      userName: email,
      emails: [{ value: email, primary: true }],
      displayName: `Soak ${n}`,
      active: true,
    });
    requestDone(created.ms, false);
    if (created.status !== 201) {
      count('errors', {
        kind: 'scim create',
        status: created.status,
        body: created.body?.slice(0, 200),
      });
      continue;
    }
    total.scimChanges += 1;
    const resource = JSON.parse(created.body);
    const session = await signIn(email, { scimId: resource.id });
    if (!session) continue;
    await nap(SCIM_EVERY_MS / 3, until);
    const renamed = await scim(at(), 'PUT', `/Users/${resource.id}`, {
      ...resource,
      displayName: `Soak ${n} renamed`,
    });
    requestDone(renamed.ms, false);
    if (renamed.status !== 200) count('errors', { kind: 'scim put', status: renamed.status });
    else total.scimChanges += 1;
    await nap(SCIM_EVERY_MS / 3, until);
    if (!live.includes(session)) continue;
    live.splice(live.indexOf(session), 1);
    session.state = 'ending';
    const where = at();
    const deactivated = await scim(where, 'PATCH', `/Users/${resource.id}`, {
      schemas: [PATCH_URN],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    requestDone(deactivated.ms, false);
    if (deactivated.status !== 200) {
      count('errors', { kind: 'scim deactivate', status: deactivated.status });
      // Not known to be ended: do not judge its checks either way.
      continue;
    }
    total.scimChanges += 1;
    markEnded(session, where);
  }
}

// ---------------------------------------------------------------------------------------------
// Set-up.

async function startRedis() {
  const port = await freePort();
  const child = startChild('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  const probe = () =>
    new Promise((resolve) => {
      const p = spawn('redis-cli', ['-p', String(port), 'ping'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
      });
      p.on('error', () => resolve(false));
      p.on('close', () => resolve(out.trim() === 'PONG'));
    });
  await waitUntil('redis-server (apt-get install redis-server)', probe, child);
  return { url: `redis://127.0.0.1:${port}/0`, child };
}

/** The CLI reads the same config as the servers, so it needs the SCIM credentials too. */
function instanceEnv() {
  const env = { ...process.env, SCIM_BEARER_TOKEN: SCIM_TOKEN };
  // The machine's settings must not override the config file.
  for (const name of [
    'PORTCULLIS_CONFIG',
    'PORTCULLIS_SECRET_KEY',
    'PORTCULLIS_LISTEN',
    'REDIS_URL',
  ])
    delete env[name];
  return env;
}

async function startInstance(name, redisUrl) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `portcullis-soak-${name}-`));
  tempDirs.push(dir);
  const url = `http://127.0.0.1:${port}`;
  const config = {
    log: { level: 'warn' },
    server: { listen: `127.0.0.1:${port}`, public_url: url },
    auth: { secret_key: SECRET, enabled_auth: ['magic_link'], magic_link: { mailer: 'log' } },
    store: { url: redisUrl, key_prefix: 'soak:' },
    scim: { enabled: true },
    access: { default_policy: 'authenticated' },
  };
  const configPath = join(dir, 'portcullis.yaml');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const child = startChild(
    process.execPath,
    ['--no-memory-reducer', BIN, 'serve', '--config', configPath],
    instanceEnv(),
  );
  await waitUntil(
    `portcullis ${name}`,
    async () => (await call(`${url}/auth/readyz`)).status === 200,
    child,
  );
  return { name, url, configPath, child };
}

const fmtMs = (n) => (Number.isFinite(n) ? `${n.toFixed(2)} ms` : '—');
const fmtMb = (n) => (Number.isFinite(n) ? `${n.toFixed(0)} MB` : '—');

function report(elapsedS, windowS) {
  const w = window_;
  window_ = newWindow();
  const rss = instances.map((i) => `${i.name} ${fmtMb(rssMb(i.child.pid))}`).join(', ');
  log(
    `t=${elapsedS.toFixed(0)}s  ${(w.requests / windowS).toFixed(0)} req/s (${(w.checks / windowS).toFixed(0)} checks/s)  check p99 ${fmtMs(p99(w.latencies))}  errors ${w.errors}  wrong ${w.wrongAllows + w.wrongDenies} (allows ${w.wrongAllows}, denies ${w.wrongDenies})  stale ${w.stale}  live sessions ${live.length}  RSS ${rss}`,
  );
}

async function main() {
  log(
    `${DURATION_S} s, ${CONNECTIONS} checkers, two instances on one redis-server; report every ${REPORT_EVERY_S} s`,
  );
  const redis = await startRedis();
  instances = await Promise.all([startInstance('A', redis.url), startInstance('B', redis.url)]);
  // A few sessions before the clock starts, so the first checks have something to verify.
  for (let i = 0; i < 4; i++) await signIn(`soak-${userCounter++}@example.com`);

  const started = performance.now();
  const until = started + DURATION_S * 1000;
  let lastReport = started;
  const reporter = setInterval(() => {
    const now = performance.now();
    report((now - started) / 1000, (now - lastReport) / 1000);
    lastReport = now;
  }, REPORT_EVERY_S * 1000);
  await Promise.all([
    ...Array.from({ length: CONNECTIONS }, () => checker(until)),
    loginLane(until),
    logoutLane(until),
    scimLane(until),
  ]);
  clearInterval(reporter);
  const now = performance.now();
  if (now - lastReport > 1000) report((now - started) / 1000, (now - lastReport) / 1000);
  const seconds = (now - started) / 1000;
  for (const instance of instances) {
    if (instance.child.exitCode !== null) {
      count('errors', { kind: 'exit', instance: instance.name, code: instance.child.exitCode });
    }
  }
  const result = {
    seconds: Number(seconds.toFixed(1)),
    requests: total.requests,
    checks: total.checks,
    checksByKind,
    rps: Math.round(total.requests / seconds),
    checkP99Ms: Number(p99(allLatencies).toFixed(2)),
    errors: total.errors,
    wrong: total.wrongAllows + total.wrongDenies,
    wrongAllows: total.wrongAllows,
    wrongDenies: total.wrongDenies,
    stale: total.stale,
    logins: total.logins,
    logouts: total.logouts,
    scimChanges: total.scimChanges,
    rssMb: Object.fromEntries(instances.map((i) => [i.name, Math.round(rssMb(i.child.pid))])),
  };
  log(
    `summary: ${result.seconds} s, ${result.requests} requests (${result.rps} req/s), ${result.checks} checks, check p99 ${fmtMs(result.checkP99Ms)}, ${result.logins} sign-ins, ${result.logouts} logouts, ${result.scimChanges} SCIM changes, errors ${result.errors}, wrong answers ${result.wrong} (allows ${result.wrongAllows}, denies ${result.wrongDenies}), stale ${result.stale}, RSS ${instances.map((i) => `${i.name} ${result.rssMb[i.name]} MB`).join(', ')}`,
  );
  for (const sample of wrongSamples) log(`wrong: ${JSON.stringify(sample)}`);
  for (const sample of errorSamples) log(`error: ${JSON.stringify(sample)}`);
  log(`result ${JSON.stringify(result)}`);
  agent.destroy();
  return result.wrong === 0 && result.errors === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`soak: ${error.stack ?? error}\n`);
    process.exit(2);
  },
);
