import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { ManualClock } from '../../src/core/clock.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/ports.js';
import {
  type RedisCluster,
  type RedisServer,
  type SentinelSet,
  startRedis,
  startRedisCluster,
  startSentinelSet,
} from '../helpers/redis.js';

/**
 * Issue 11 §3 against real Sentinel and a real three-primary Cluster: `store.sentinel` and
 * `store.cluster` work without `store.url`; a dead primary or node is an outage (503 +
 * Retry-After, never 500, never a wrong allow) that ends without a restart; readyz checks every
 * node; a frozen (SIGSTOP) Redis is noticed within the command timeout under load too.
 */

const TARGET = 'http://app.example.test/private';

const USER = {
  id: 'u1',
  email: 'a@example.com',
  name: 'A',
  groups: [],
  active: true,
  verified: true,
  createdAt: 0,
  lastLoginAt: null,
};

interface Answer {
  who: Who;
  status: number;
  ms: number;
  retryAfter: string | null;
}

/** valid: a live session; revoked: a session ended before the fault; none / forged: no session. */
type Who = 'valid' | 'revoked' | 'none' | 'forged';

async function check(base: string, cookie: string | null, who: Who): Promise<Answer> {
  const headers: Record<string, string> = { 'x-original-url': TARGET, 'x-original-method': 'GET' };
  if (cookie !== null) headers.cookie = `portcullis_session=${cookie}`;
  const started = performance.now();
  const response = await fetch(`${base}/auth/nginx`, { headers });
  await response.arrayBuffer();
  return {
    who,
    status: response.status,
    ms: performance.now() - started,
    retryAfter: response.headers.get('retry-after'),
  };
}

async function readyz(base: string): Promise<number> {
  return (await fetch(`${base}/auth/readyz`)).status;
}

interface Cookies {
  valid: string[];
  revoked: string;
  forged: string;
}

/** Signs users in (spread over slots on a Cluster) and ends one session before any fault. */
async function cookiesFor(app: TestApp, tag: string): Promise<Cookies> {
  const valid: string[] = [];
  // Enough that some live on every node: after a node comes back empty, some must survive.
  for (let i = 0; i < 12; i++) valid.push(await app.login(`${tag}-${i}@example.com`));
  const revoked = await app.login(`${tag}-revoked@example.com`);
  const lookup = await app.ctx.sessions.resolve(revoked);
  if (lookup.kind !== 'valid') throw new Error('login did not make a session');
  await app.ctx.sessions.revoke(lookup.live.session.id);
  // Replication to a Sentinel replica is asynchronous: let the revocation reach it.
  await new Promise((r) => setTimeout(r, 200));
  const forged = `${valid[0]?.slice(0, -4)}AAAA`;
  return { valid, revoked, forged };
}

/**
 * `workers` clients, each sending checks one after another for `ms`: valid, revoked, forged and
 * cookie-less in turn, so every kind is asked throughout the fault.
 */
async function underLoad(base: string, cookies: Cookies, ms: number, workers = 8) {
  const answers: Answer[] = [];
  const until = Date.now() + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < until) {
        const i = n++;
        const kind = (['valid', 'revoked', 'forged', 'none'] as const)[i % 4] as Who;
        const cookie =
          kind === 'valid'
            ? (cookies.valid[Math.floor(i / 4) % cookies.valid.length] as string)
            : kind === 'revoked'
              ? cookies.revoked
              : kind === 'forged'
                ? cookies.forged
                : null;
        answers.push(await check(base, cookie, kind));
      }
    }),
  );
  return answers;
}

/** The invariants of every fault: no wrong allow, no 500, every 503 says when to retry. */
function expectSafe(answers: Answer[]): void {
  expect(answers.length).toBeGreaterThan(8);
  const wrong = answers.filter((a) => a.who !== 'valid' && a.status >= 200 && a.status < 300);
  expect(wrong, 'a check without a live session was let in').toEqual([]);
  const statuses = new Set(answers.map((a) => a.status));
  for (const status of statuses) expect([200, 401, 503]).toContain(status);
  for (const a of answers.filter((x) => x.status === 503)) expect(a.retryAfter).toBe('1');
}

describe('Redis Sentinel: primary + replica + 3 sentinels', () => {
  let set: SentinelSet;
  let app: TestApp;
  let cookies: Cookies;
  const prefix = `ha:${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    set = await startSentinelSet();
    // No store.url: the Sentinel setting alone selects Redis.
    app = await startTestApp({
      store: {
        sentinel: { name: set.name, nodes: set.nodes },
        key_prefix: prefix,
      },
    });
    expect(app.ctx.store.kind).toBe('redis');
    cookies = await cookiesFor(app, 'sentinel');
  }, 30_000);

  afterAll(async () => {
    await app?.close();
    await set?.stop();
  });

  it('keeps sessions in the primary the sentinels name, shared with a second instance', async () => {
    expect(await readyz(app.url)).toBe(200);
    for (const cookie of cookies.valid)
      expect((await check(app.url, cookie, 'valid')).status).toBe(200);
    expect((await check(app.url, cookies.revoked, 'revoked')).status).toBe(401);
    const second = await startTestApp({
      store: { sentinel: { name: set.name, nodes: set.nodes }, key_prefix: prefix },
    });
    try {
      expect((await check(second.url, cookies.valid[0] as string, 'valid')).status).toBe(200);
      expect((await check(second.url, cookies.revoked, 'revoked')).status).toBe(401);
    } finally {
      await second.close();
    }
  });

  it('primary killed under load: no wrong allow, 503 during the failover, recovery without restart', async () => {
    await set.primary.kill();
    const answers = await underLoad(app.url, cookies, 2500);
    expect(answers.length).toBeGreaterThan(200);
    expectSafe(answers);
    expect(answers.some((a) => a.status === 503)).toBe(true);
    await waitFor(() => set.primaryPort() === set.replica.port, 15_000, 'failover');
    await waitFor(
      async () => (await check(app.url, cookies.valid[0] as string, 'valid')).status === 200,
      15_000,
      'checks to recover',
    );
    expect(await readyz(app.url)).toBe(200);
    const after = await underLoad(app.url, cookies, 300, 4);
    expectSafe(after);
    // The sessions were replicated before the kill: all of them survive the failover.
    expect(after.filter((a) => a.who === 'valid').every((a) => a.status === 200)).toBe(true);
  }, 30_000);
});

describe('Redis Cluster: three primaries', () => {
  let cluster: RedisCluster;
  let app: TestApp;
  let cookies: Cookies;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    // No store.url: the Cluster setting alone selects Redis.
    app = await startTestApp({
      store: { cluster: cluster.addresses, key_prefix: `ha:${randomBytes(4).toString('hex')}:` },
    });
    expect(app.ctx.store.kind).toBe('redis');
    cookies = await cookiesFor(app, 'cluster');
  }, 30_000);

  afterAll(async () => {
    await app?.close();
    await cluster?.stop();
  });

  it('keeps sessions across the three primaries', async () => {
    expect(await readyz(app.url)).toBe(200);
    for (const cookie of cookies.valid)
      expect((await check(app.url, cookie, 'valid')).status).toBe(200);
    expect((await check(app.url, cookies.revoked, 'revoked')).status).toBe(401);
  });

  it('keys whose slots moved to another primary (MOVED) are followed, not failed', async () => {
    const prefix = `moved:${randomBytes(4).toString('hex')}:`;
    const store = new RedisStore({
      url: 'memory://',
      sentinel: null,
      cluster: cluster.addresses,
      keyPrefix: prefix,
      clock: new ManualClock(),
    });
    const raw = cluster.nodes.map((n) => new Redis(n.port, { lazyConnect: false }));
    try {
      await store.waitUntilReady(10_000);
      const [from, to] = raw as [Redis, Redis];
      const [fromId, toId] = await Promise.all([
        from.call('CLUSTER', 'MYID'),
        to.call('CLUSTER', 'MYID'),
      ]);
      // Users whose records live on the first node, in different slots.
      const moved: { id: string; slot: number }[] = [];
      for (let i = 0; moved.length < 4; i++) {
        const id = `m${i}`;
        const slot = Number(await from.call('CLUSTER', 'KEYSLOT', `${prefix}u:${id}`));
        // A node answers MOVED for a key whose slot it does not serve.
        const served = await from.get(`${prefix}u:${id}`).then(
          () => true,
          () => false,
        );
        if (!served) continue;
        if (moved.some((m) => m.slot === slot)) continue;
        moved.push({ id, slot });
      }
      for (const { id } of moved)
        await store.createUser({ ...USER, id, email: `${id}@example.com` });
      // Reshard those slots to the second node by hand (what a rebalance or a rejoin does); the
      // store's slot map is now stale, so its next commands there are answered MOVED.
      for (const { id, slot } of moved) {
        await to.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', String(fromId));
        await from.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', String(toId));
        await from.call(
          'MIGRATE',
          '127.0.0.1',
          String(cluster.nodes[1]?.port),
          `${prefix}u:${id}`,
          '0',
          '5000',
        );
        for (const node of raw)
          await node.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', String(toId));
      }
      // In one tick, as concurrent checks would ask.
      const found = await Promise.all(moved.map(({ id }) => store.getUser(id)));
      expect(found.map((u) => u?.id)).toEqual(moved.map((m) => m.id));
    } finally {
      await store.close();
      for (const node of raw) node.disconnect();
    }
  });

  it('a node restarted empty under load: 503 (never 500), readyz 503 while it is down, recovery', async () => {
    const node = cluster.nodes[0] as RedisServer;
    await node.kill();
    // The other two primaries still answer PING: readyz must see the one that does not.
    expect(await readyz(app.url)).toBe(503);
    const down = await underLoad(app.url, cookies, 1500);
    expectSafe(down);
    expect(down.some((a) => a.status === 503)).toBe(true);
    // Back with its identity and slots (nodes.conf) but none of its data: a rejoin, with
    // MOVED/CLUSTERDOWN answers while the others take it back.
    await node.restart();
    const rejoin = await underLoad(app.url, cookies, 1500);
    expectSafe(rejoin);
    await waitFor(() => cluster.healthy(), 15_000, 'cluster_state:ok');
    await waitFor(async () => (await readyz(app.url)) === 200, 15_000, 'readyz after rejoin');
    const after = await underLoad(app.url, cookies, 300, 4);
    expectSafe(after);
    expect(after.some((a) => a.status === 503)).toBe(false);
    // Sessions (or users) that lived on the emptied node are gone; the rest still work.
    expect(after.some((a) => a.who === 'valid' && a.status === 200)).toBe(true);
    const fresh = await app.login('cluster-fresh@example.com');
    expect((await check(app.url, fresh, 'valid')).status).toBe(200);
  }, 40_000);
});

describe('a frozen Redis (SIGSTOP) under load', () => {
  let redis: RedisServer;
  let app: TestApp;
  let cookies: Cookies;

  beforeAll(async () => {
    redis = await startRedis();
    app = await startTestApp({
      store: { url: redis.url, key_prefix: `ha:${randomBytes(4).toString('hex')}:` },
    });
    cookies = await cookiesFor(app, 'frozen');
  }, 20_000);

  afterAll(async () => {
    redis?.thaw();
    await app?.close();
    await redis?.stop();
  });

  it('every check that needs the store answers 503 within the 2 s command timeout, none 2xx', async () => {
    // Steady load first, so commands are in flight (and batches queued) when Redis stops.
    const warm = underLoad(app.url, cookies, 400);
    await new Promise((r) => setTimeout(r, 200));
    redis.freeze();
    expectSafe(await warm);
    // Past the session cache's 1 s lifetime every answer comes from the (hung) store.
    await new Promise((r) => setTimeout(r, 1100));
    const answers = await underLoad(app.url, { ...cookies, revoked: cookies.revoked }, 3000, 16);
    redis.thaw();
    expectSafe(answers);
    const needStore = answers.filter((a) => a.who === 'valid' || a.who === 'revoked');
    expect(needStore.length).toBeGreaterThan(16);
    expect(needStore.filter((a) => a.status !== 503)).toEqual([]);
    const slowest = Math.max(...needStore.map((a) => a.ms));
    expect(slowest, 'a check waited past the command timeout').toBeLessThan(2000 + 500);
    await waitFor(
      async () => (await check(app.url, cookies.valid[0] as string, 'valid')).status === 200,
      10_000,
      'recovery after SIGCONT',
    );
  }, 20_000);
});
