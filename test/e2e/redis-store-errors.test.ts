import { randomBytes } from 'node:crypto';
import { Redis, ReplyError } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { ManualClock } from '../../src/core/clock.js';
import { type Store, StoreUnavailableError } from '../../src/ports/store.js';
import { startTestApp } from '../helpers/app.js';
import { freePort } from '../helpers/ports.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { OpenStores } from '../helpers/store-kinds.js';

/**
 * The Redis adapter says what an outage is: a command that fails because Redis is unreachable,
 * not ready or too slow rejects with StoreUnavailableError (the ioredis error as `cause`), and
 * the HTTP edge answers 503 on that type alone. A fault in the data (WRONGTYPE) stays itself,
 * and stays a 500.
 */

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

/** Every kind of command path: plain, auto-pipelined pair, Lua script, pub/sub publish. */
const CALLS: [string, (store: Store) => Promise<unknown>][] = [
  ['getSession (HMGET)', (s) => s.getSession('s1')],
  ['getUser (GET)', (s) => s.getUser('u1')],
  ['touchSession (script)', (s) => s.touchSession('s1', 1)],
  ['hit (script)', (s) => s.hit('k', 1000)],
  ['deleteSession (script, then PUBLISH)', (s) => s.deleteSession('s1')],
  ['createUser (several writes)', (s) => s.createUser(USER)],
  ['ping', (s) => s.ping()],
];

async function outage(call: Promise<unknown>): Promise<StoreUnavailableError> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreUnavailableError);
  const unavailable = error as StoreUnavailableError;
  // The cause is ioredis' own error (connection layer), kept for the log.
  expect(unavailable.cause).toBeInstanceOf(Error);
  expect(unavailable.cause).not.toBeInstanceOf(StoreUnavailableError);
  expect(unavailable.cause).not.toBeInstanceOf(ReplyError);
  expect(unavailable.message).toContain((unavailable.cause as Error).message);
  return unavailable;
}

function redisStore(url: string, prefix: string, commandTimeoutMs = 2000): RedisStore {
  return new RedisStore({
    url,
    sentinel: null,
    cluster: null,
    keyPrefix: prefix,
    clock: new ManualClock(),
    commandTimeoutMs,
  });
}

describe('RedisStore: outages are StoreUnavailableError', () => {
  const stores = new OpenStores();
  afterEach(() => stores.closeAll());

  it.each(CALLS)('a never-started redis-server: %s', async (_name, call) => {
    const port = await freePort();
    const store = stores.add(redisStore(`redis://127.0.0.1:${port}/0`, 'never:'));
    await outage(call(store));
  });

  it.each(CALLS)('a SIGKILLed redis-server: %s', async (_name, call) => {
    const redis = await startRedis();
    try {
      const store = await stores.redis(redis, `killed:${randomBytes(4).toString('hex')}:`);
      await redis.kill();
      await outage(call(store));
    } finally {
      await redis.stop();
    }
  });

  it('a redis-server too slow to answer (commandTimeout)', async () => {
    const redis = await startRedis();
    const raw = new Redis(redis.url);
    try {
      const store = stores.add(redisStore(redis.url, 'slow:', 200));
      await store.waitUntilReady(10_000);
      await raw.call('CLIENT', 'PAUSE', '1500', 'ALL');
      const error = await outage(store.getSession('s1'));
      expect((error.cause as Error).message).toMatch(/timed out/);
    } finally {
      raw.disconnect();
      await redis.stop();
    }
  });
});

describe('RedisStore: faults are not outages', () => {
  let redis: RedisServer;
  let raw: Redis;
  const stores = new OpenStores();

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  afterEach(() => stores.closeAll());
  afterAll(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  const wrongType = async (call: Promise<unknown>) => {
    const error = await call.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ReplyError);
    expect(error).not.toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/WRONGTYPE/);
  };

  it('WRONGTYPE from a plain command and from a Lua script', async () => {
    const prefix = `wrong:${randomBytes(4).toString('hex')}:`;
    const store = await stores.redis(redis, prefix);
    // A string where the store keeps a hash, and a hash where it keeps a string.
    await raw.set(`${prefix}s:s1`, 'not a hash');
    await raw.hset(`${prefix}u:u1`, 'not', 'a string');
    await raw.set(`${prefix}c:k`, 'not a hash');
    await wrongType(store.getSession('s1'));
    await wrongType(store.touchSession('s1', 1));
    await wrongType(store.getUser('u1'));
    await wrongType(store.hit('k', 1000));
    // The connection is fine afterwards: the fault was in the data, not the link.
    await expect(store.getSession('s2')).resolves.toBeNull();
  });

  it('SCIM answers 500 (not 503) when the store holds a wrong-type value', async () => {
    const prefix = `wrongscim:${randomBytes(4).toString('hex')}:`;
    const app = await startTestApp(
      { store: { url: redis.url, key_prefix: prefix }, scim: { enabled: true } },
      { env: { SCIM_USER: 'okta', SCIM_PASSWORD: 'okta-secret-pw' } },
    );
    try {
      await raw.hset(`${prefix}u:u1`, 'not', 'a string');
      const response = await fetch(`${app.url}/scim/v2/Users/u1`, {
        headers: {
          authorization: `Basic ${Buffer.from('okta:okta-secret-pw').toString('base64')}`,
        },
      });
      expect(response.status).toBe(500);
    } finally {
      await app.close();
    }
  });
});
