import type { Logger } from 'pino';
import { MemoryStore } from './adapters/memory/memory-store.js';
import { RedisStore } from './adapters/redis/redis-store.js';
import type { Config } from './config/load.js';
import { storeIsRedis } from './config/schema.js';
import type { Clock } from './core/clock.js';
import type { Store } from './ports/store.js';

/** Opens the configured store; for Redis, waits briefly for it but starts anyway (checks answer 503 until it is up). */
export async function openStore(config: Config, clock: Clock, logger: Logger): Promise<Store> {
  // A user named like anonymous_user would pass as nobody in anonymous mode: no account gets it.
  const reservedUsernames = [config.raw.anonymous_user.id];
  if (!storeIsRedis(config.raw.store)) return new MemoryStore(clock, { reservedUsernames });
  const store = new RedisStore({
    url: config.raw.store.url,
    sentinel: config.raw.store.sentinel,
    cluster: config.raw.store.cluster,
    keyPrefix: config.raw.store.key_prefix,
    clock,
    reservedUsernames,
  });
  try {
    await store.waitUntilReady(5000);
  } catch {
    logger.warn('Redis is not reachable yet; auth checks answer 503 until it is');
  }
  return store;
}
