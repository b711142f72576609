import { z } from 'zod';
import { hostPort } from './schema-types.js';

/**
 * `memory://` exactly (anything else is taken for Redis), or a Redis URL that parses: the Redis
 * client only parses it when the server starts, and the path, if any, is the database number.
 */
function isStoreUrl(value: string): boolean {
  if (value === 'memory://') return true;
  if (!/^rediss?:\/\//.test(value) || !URL.canParse(value)) return false;
  return /^(\/\d{0,2})?$/.test(new URL(value).pathname);
}

/** What `storeIsRedis` and `describeStore` read of the `store` section. */
interface StoreSection {
  url: string;
  sentinel: { name: string; nodes: string[] } | null;
  cluster: string[] | null;
}

/**
 * Whether the store is Redis: a Redis URL, or a Sentinel or Cluster setting, which is complete
 * on its own. Every place that picks memory or Redis asks this, so a Sentinel or Cluster setting
 * left beside the default `url: memory://` can never fall back to the (unshared) memory store.
 */
export function storeIsRedis(store: StoreSection): boolean {
  return store.url !== 'memory://' || store.sentinel !== null || store.cluster !== null;
}

/** For logs and `check-config`: where the store is, without credentials. */
export function describeStore(store: StoreSection): string {
  if (store.sentinel)
    return `redis sentinel ${store.sentinel.name} via ${store.sentinel.nodes.join(',')}`;
  if (store.cluster) return `redis cluster ${store.cluster.join(',')}`;
  return store.url.replace(/\/\/[^@/]*@/, '//***@');
}

/** The `store` section: memory, or Redis by URL, Sentinel or Cluster. */
export const storeSchema = z
  .strictObject({
    url: z
      .string()
      .refine(isStoreUrl, {
        message: 'must be memory:// or redis://host:port/db / rediss://…',
      })
      .default('memory://'),
    sentinel: z
      .strictObject({ name: z.string().min(1), nodes: z.array(hostPort).min(1) })
      .nullable()
      .default(null),
    cluster: z.array(hostPort).min(1).nullable().default(null),
    key_prefix: z.string().max(64).default('portcullis:'),
  })
  .superRefine((store, ctx) => {
    // With Sentinel or Cluster the nodes come from that setting; `url` (or REDIS_URL), when it
    // is a Redis URL, only lends its credentials, database and TLS (rediss://).
    if (store.sentinel && store.cluster) {
      ctx.addIssue({
        code: 'custom',
        path: ['sentinel'],
        message: 'cannot be combined with store.cluster: set one of them',
      });
    }
    if (
      store.cluster &&
      store.url !== 'memory://' &&
      URL.canParse(store.url) &&
      !/^(\/0*)?$/.test(new URL(store.url).pathname)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['cluster'],
        message:
          'Redis Cluster has only database 0: store.url (or REDIS_URL) must not select another',
      });
    }
  })
  .prefault({});
