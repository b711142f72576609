import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Session, Store } from '../../src/ports/store.js';
import { type RedisServer, startRedis, startRedisCluster } from './redis.js';

/**
 * What a contract test gets: a store, a "peer" (the same shared state as another instance
 * holds it: the same object for memory, a second RedisStore with its own connections on the same
 * server and key prefix for Redis), and the ManualClock both run on.
 */
export interface StoreFixture {
  store: Store;
  peer: Store;
  clock: ManualClock;
}

/** Opens RedisStores and remembers them, so a test file can close what it opened. */
export class OpenStores {
  private readonly opened: Store[] = [];

  add<T extends Store>(store: T): T {
    this.opened.push(store);
    return store;
  }

  async redis(server: RedisServer, prefix: string, clock = new ManualClock()): Promise<RedisStore> {
    const store = this.add(
      new RedisStore({
        url: server.url,
        sentinel: null,
        cluster: null,
        keyPrefix: prefix,
        clock,
        commandTimeoutMs: 5000,
        reservedUsernames: RESERVED_USERNAMES,
      }),
    );
    await store.waitUntilReady(10_000);
    return store;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.opened.splice(0).map((s) => s.close()));
  }
}

export interface StoreKind {
  name: 'memory' | 'redis';
  setup(): Promise<void>;
  /** A fresh store and peer (for Redis, under a fresh key prefix: tests never see each other). */
  open(): Promise<StoreFixture>;
  /** Closes what `open` opened; call it after each test. */
  closeOpened(): Promise<void>;
  teardown(): Promise<void>;
  /** The real redis-server behind the Redis kind (null for memory, or before setup). */
  server(): RedisServer | null;
}

/** As the app opens its store with the default anonymous_user.id. */
export const RESERVED_USERNAMES = ['anonymous'];

/**
 * The stores every contract file runs against: memory, and Redis on a real redis-server that
 * `setup` starts and `teardown` stops. `label` goes into the key prefixes.
 */
export function storeKinds(label: string): StoreKind[] {
  const memoryStores = new OpenStores();
  const redisStores = new OpenStores();
  let redis: RedisServer | null = null;
  return [
    {
      name: 'memory',
      async setup() {},
      async open() {
        const clock = new ManualClock();
        const store = memoryStores.add(
          new MemoryStore(clock, { reservedUsernames: RESERVED_USERNAMES }),
        );
        return { store, peer: store, clock };
      },
      closeOpened: () => memoryStores.closeAll(),
      async teardown() {},
      server: () => null,
    },
    {
      name: 'redis',
      async setup() {
        redis = await startRedis();
      },
      async open() {
        if (!redis) throw new Error('redis-server was not started');
        const prefix = `${label}:${randomBytes(6).toString('hex')}:`;
        const clock = new ManualClock();
        const store = await redisStores.redis(redis, prefix, clock);
        const peer = await redisStores.redis(redis, prefix, clock);
        return { store, peer, clock };
      },
      closeOpened: () => redisStores.closeAll(),
      async teardown() {
        await redisStores.closeAll();
        await redis?.stop();
        redis = null;
      },
      server: () => redis,
    },
  ];
}

/**
 * Runs `body` with a store and a peer (two RedisStores, own connections) on a fresh Redis
 * Cluster under a fresh `label` key prefix; closes both and stops the cluster afterwards.
 */
export async function onRedisCluster(
  label: string,
  body: (fixture: { store: RedisStore; peer: RedisStore; clock: ManualClock }) => Promise<void>,
): Promise<void> {
  const cluster = await startRedisCluster();
  const clock = new ManualClock();
  const prefix = `${label}:${randomBytes(4).toString('hex')}:`;
  const open = () =>
    new RedisStore({
      url: 'memory://',
      sentinel: null,
      cluster: cluster.addresses,
      keyPrefix: prefix,
      clock,
      commandTimeoutMs: 5000,
    });
  const store = open();
  const peer = open();
  try {
    await Promise.all([store.waitUntilReady(10_000), peer.waitUntilReady(10_000)]);
    await body({ store, peer, clock });
  } finally {
    await Promise.all([store.close(), peer.close()]);
    await cluster.stop();
  }
}

/** Runs `body` with a plain client on the Redis kind's server, disconnected afterwards. */
export async function withRawRedis<T>(
  server: RedisServer | null,
  body: (raw: Redis) => Promise<T>,
): Promise<T> {
  if (!server) throw new Error('redis-server was not started');
  const raw = new Redis(server.url);
  try {
    return await body(raw);
  } finally {
    raw.disconnect();
  }
}

/**
 * A maker of sessions for `userId` that start now on `clock` and last a minute, created by a
 * magic link; ids start with `idPrefix` and are unique.
 */
export function sessionMaker(
  idPrefix: string,
): (userId: string, clock: ManualClock, extra?: Partial<Session>) => Session {
  let counter = 0;
  return (userId, clock, extra = {}) => {
    counter += 1;
    const now = clock.now();
    return {
      id: `${idPrefix}-${counter}-${randomBytes(4).toString('hex')}`,
      userId,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + 60_000,
      ip: '203.0.113.7',
      userAgent: 'contract-test',
      method: 'magic_link',
      amr: ['link'],
      ...extra,
    };
  };
}

/**
 * For one describe block about the keys a RedisStore writes: starts the Redis kind of `kinds`
 * before, closes what `open` opened and stops it after. `open(label)` gives a RedisStore under a
 * fresh `label` key prefix, on its own ManualClock.
 */
export function redisKeysFixture(kinds: StoreKind[]): {
  open(label: string): Promise<{
    store: RedisStore;
    clock: ManualClock;
    prefix: string;
    server: RedisServer;
  }>;
} {
  const redisKind = kinds.find((kind) => kind.name === 'redis');
  const stores = new OpenStores();
  beforeAll(() => redisKind?.setup());
  afterAll(async () => {
    await stores.closeAll();
    await redisKind?.teardown();
  });
  return {
    async open(label) {
      const server = redisKind?.server();
      if (!server) throw new Error('redis-server was not started');
      const prefix = `${label}:${randomBytes(4).toString('hex')}:`;
      const clock = new ManualClock();
      const store = await stores.redis(server, prefix, clock);
      return { store, clock, prefix, server };
    },
  };
}
