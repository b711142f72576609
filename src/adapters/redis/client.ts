import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Clock } from '../../core/clock.js';
import { reportOutages } from './report-outages.js';

export interface RedisStoreOptions {
  url: string;
  sentinel: { name: string; nodes: string[] } | null;
  cluster: string[] | null;
  keyPrefix: string;
  clock: Clock;
  /** How long a command may wait before it fails (the auth check then answers 503). */
  commandTimeoutMs?: number;
  /** Names no account may be given (anonymous_user.id). */
  reservedUsernames?: readonly string[];
}

export type Client = Redis | Cluster;

function hostPort(entry: string): { host: string; port: number } {
  const index = entry.lastIndexOf(':');
  return {
    host: entry.slice(0, index).replace(/^\[|\]$/g, ''),
    port: Number(entry.slice(index + 1)),
  };
}

function baseOptions(timeout: number): RedisOptions {
  return {
    // Fail fast while disconnected: a queued command would hold an auth check open, and the
    // check must answer 503 (never 200) while the store is away.
    enableOfflineQueue: false,
    // 0: commands in flight when the connection drops are rejected at once instead of waiting
    // for a reconnect (or for commandTimeout), so checks answer 503 immediately.
    maxRetriesPerRequest: 0,
    commandTimeout: timeout,
    // Off: an auto-pipelined batch is only sent once the previous one has settled, and the
    // timeout starts when a command is sent, so with Redis hung (SIGSTOP) a command queued
    // behind a batch waited out that batch's timeout before its own began (2 × the timeout).
    // On a Cluster it also took commands past ioredis' MOVED/ASK handling and, before the slot
    // map was known, past `sendCommand`, so their failures reached the caller unclassified.
    // Checks are mostly answered from the session cache, so the batching saved little.
    enableAutoPipelining: false,
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
    // The subscriber (re)subscribes itself on every 'ready', so it knows when it really listens.
    autoResubscribe: false,
    lazyConnect: false,
  };
}

/** What `store.url` (or REDIS_URL) lends to Sentinel and Cluster nodes: credentials, database, TLS. */
function urlSettings(url: string): Pick<RedisOptions, 'username' | 'password' | 'db' | 'tls'> {
  if (!/^rediss?:\/\//.test(url)) return {};
  const parsed = new URL(url);
  return {
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db: Number(parsed.pathname.slice(1) || 0),
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
  };
}

export function createClient(options: RedisStoreOptions): Client {
  const timeout = options.commandTimeoutMs ?? 2000;
  if (options.cluster) {
    const { db: _db, ...lent } = urlSettings(options.url);
    return new Cluster(options.cluster.map(hostPort), {
      enableOfflineQueue: false,
      enableAutoPipelining: false,
      redisOptions: { ...baseOptions(timeout), ...lent },
      clusterRetryStrategy: (times: number) => Math.min(times * 100, 1000),
    });
  }
  if (options.sentinel) {
    return new Redis({
      ...baseOptions(timeout),
      ...urlSettings(options.url),
      sentinels: options.sentinel.nodes.map(hostPort),
      name: options.sentinel.name,
      // Sentinels are asked for the primary again on every reconnect, and a primary demoted by
      // a failover (READONLY) drops the connection so the next one goes to the new primary.
      reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 1 : false),
      // Without this ioredis ignores `tls` for the primary it finds through the sentinels.
      enableTLSForSentinelMode: options.url.startsWith('rediss://'),
    });
  }
  return new Redis(options.url, baseOptions(timeout));
}

/**
 * The client every port's commands go through: an outage rejects with StoreUnavailableError
 * (the subscriber, which issues no store commands, is a plain `createClient`).
 */
export function createCommandClient(options: RedisStoreOptions): Client {
  const client = createClient(options);
  reportOutages(client);
  return client;
}

/**
 * Tracks whether one connection can serve requests. ioredis reports a lost connection on the
 * socket's 'close', which comes a loop phase after the socket's 'end'/'error'; watching the
 * socket directly closes the window in which a local cache could still answer after Redis died.
 */
export function watchConnection(client: Client, onChange: (up: boolean) => void): void {
  client.on('ready', () => onChange(true));
  for (const event of ['close', 'reconnecting', 'end']) client.on(event, () => onChange(false));
  if (client instanceof Redis) {
    client.on('connect', () => {
      const stream = client.stream;
      const down = () => onChange(false);
      stream.once('end', down);
      stream.once('error', down);
    });
  }
  // Errors are reported through availability; without a listener ioredis would print them.
  client.on('error', () => {});
}
