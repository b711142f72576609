import { randomBytes } from 'node:crypto';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Store } from '../../src/ports/store.js';
import { type RedisServer, startRedis } from './redis.js';

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
