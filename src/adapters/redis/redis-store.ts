import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Clock } from '../../core/clock.js';
import type { Session, Store, TokenRecord, User, UserPage } from '../../ports/store.js';

export interface RedisStoreOptions {
  url: string;
  sentinel: { name: string; nodes: string[] } | null;
  cluster: string[] | null;
  keyPrefix: string;
  clock: Clock;
  /** How long a command may wait before it fails (the auth check then answers 503). */
  commandTimeoutMs?: number;
}

type Client = Redis | Cluster;

// Single-key scripts only, so everything also runs on Redis Cluster.
const TOUCH = `if redis.call('EXISTS', KEYS[1]) == 1 then
  local last = tonumber(redis.call('HGET', KEYS[1], 'lastSeenAt') or '0')
  if tonumber(ARGV[1]) > last then redis.call('HSET', KEYS[1], 'lastSeenAt', ARGV[1]) end
end
return 0`;
const HIT = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

function hostPort(entry: string): { host: string; port: number } {
  const index = entry.lastIndexOf(':');
  return {
    host: entry.slice(0, index).replace(/^\[|\]$/g, ''),
    port: Number(entry.slice(index + 1)),
  };
}

function baseOptions(timeout: number): RedisOptions {
  return {
    // Fail fast while disconnected: a queued command would hold an auth check open, and
    // the check must answer 503 (never 200) while the store is away.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: timeout,
    enableAutoPipelining: true,
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
    lazyConnect: false,
  };
}

function createClient(options: RedisStoreOptions): Client {
  const timeout = options.commandTimeoutMs ?? 2000;
  if (options.cluster) {
    return new Cluster(options.cluster.map(hostPort), {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      redisOptions: baseOptions(timeout),
      clusterRetryStrategy: (times: number) => Math.min(times * 100, 1000),
    });
  }
  if (options.sentinel) {
    const url = new URL(options.url);
    return new Redis({
      ...baseOptions(timeout),
      sentinels: options.sentinel.nodes.map(hostPort),
      name: options.sentinel.name,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      db: Number(url.pathname.slice(1) || 0),
    });
  }
  return new Redis(options.url, baseOptions(timeout));
}

/** Store shared by several instances through Redis. Revocations travel over pub/sub. */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly client: Client;
  private readonly subscriber: Client;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly revokeListeners: ((id: string) => void)[] = [];
  private readonly availabilityListeners: ((available: boolean) => void)[] = [];
  private readonly channel: string;
  private available = false;
  private subscriberReady = false;
  private closing = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.keyPrefix;
    this.clock = options.clock;
    this.channel = `${this.prefix}revoked`;
    this.client = createClient(options);
    this.subscriber = this.client.duplicate();
    this.client.on('ready', () => this.setAvailable());
    this.subscriber.on('ready', () => {
      this.subscriberReady = true;
      this.setAvailable();
    });
    // Errors are reported through availability; without a listener ioredis would print them.
    this.client.on('error', () => {});
    this.subscriber.on('error', () => {});
    this.client.on('close', () => this.setUnavailable());
    this.subscriber.on('close', () => {
      this.subscriberReady = false;
      // Revocations may be missed while the subscriber is away: caches must be dropped.
      this.setUnavailable();
    });
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      for (const listener of this.revokeListeners) listener(message);
    });
    this.subscriber.subscribe(this.channel).catch(() => {});
  }

  private setAvailable(): void {
    const now = this.client.status === 'ready' && this.subscriberReady;
    if (now && !this.available) {
      this.available = true;
      for (const listener of this.availabilityListeners) listener(true);
    }
  }

  private setUnavailable(): void {
    if (this.available || this.closing) {
      this.available = false;
      for (const listener of this.availabilityListeners) listener(false);
    }
  }

  /** Resolves once both connections are up, or rejects after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<void> {
    if (this.available) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('Redis did not become ready in time')),
        timeoutMs,
      );
      this.availabilityListeners.push((up) => {
        if (up) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  private key(kind: string, id: string): string {
    return `${this.prefix}${kind}:${id}`;
  }

  private ttl(expiresAt: number): number {
    return Math.max(1, expiresAt - this.clock.now());
  }

  async createSession(session: Session): Promise<void> {
    const key = this.key('s', session.id);
    const { lastSeenAt, ...rest } = session;
    await this.client
      .multi()
      .hset(key, 'data', JSON.stringify(rest), 'lastSeenAt', String(lastSeenAt))
      .pexpire(key, this.ttl(session.expiresAt))
      .sadd(this.key('us', session.userId), session.id)
      .exec();
  }

  async getSession(id: string): Promise<Session | null> {
    const [data, lastSeen] = await this.client.hmget(this.key('s', id), 'data', 'lastSeenAt');
    if (!data) return null;
    const session = {
      ...(JSON.parse(data) as Omit<Session, 'lastSeenAt'>),
      lastSeenAt: Number(lastSeen),
    };
    return session.expiresAt > this.clock.now() ? session : null;
  }

  async touchSession(id: string, lastSeenAt: number): Promise<void> {
    await this.client.eval(TOUCH, 1, this.key('s', id), String(lastSeenAt));
  }

  async deleteSession(id: string): Promise<void> {
    const data = await this.client.hget(this.key('s', id), 'data');
    await this.client.del(this.key('s', id));
    if (data) {
      const { userId } = JSON.parse(data) as { userId: string };
      await this.client.srem(this.key('us', userId), id);
    }
    await this.client.publish(this.channel, id);
  }

  async listUserSessions(userId: string): Promise<Session[]> {
    const ids = await this.client.smembers(this.key('us', userId));
    const sessions = await Promise.all(ids.map((id) => this.getSession(id)));
    const stale = ids.filter((_id, index) => sessions[index] === null);
    if (stale.length) await this.client.srem(this.key('us', userId), ...stale);
    return sessions
      .filter((s): s is Session => s !== null)
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  async deleteUserSessions(userId: string): Promise<string[]> {
    const indexKey = this.key('us', userId);
    const ids = await this.client.smembers(indexKey);
    await Promise.all(ids.map((id) => this.client.del(this.key('s', id))));
    if (ids.length) await this.client.srem(indexKey, ...ids);
    await Promise.all(ids.map((id) => this.client.publish(this.channel, id)));
    return ids;
  }

  onSessionRevoked(listener: (sessionId: string) => void): void {
    this.revokeListeners.push(listener);
  }

  async putToken(hash: string, record: TokenRecord): Promise<void> {
    await this.client.set(
      this.key('t', hash),
      JSON.stringify(record),
      'PX',
      this.ttl(record.expiresAt),
    );
  }

  async consumeToken(hash: string): Promise<TokenRecord | null> {
    // GETDEL is one atomic step: two instances racing on one link cannot both win.
    const data = await this.client.getdel(this.key('t', hash));
    if (!data) return null;
    const record = JSON.parse(data) as TokenRecord;
    return record.expiresAt > this.clock.now() ? record : null;
  }

  async markUsed(key: string, expiresAt: number): Promise<boolean> {
    const result = await this.client.set(
      this.key('used', key),
      '1',
      'PX',
      this.ttl(expiresAt),
      'NX',
    );
    return result === 'OK';
  }

  async getUser(id: string): Promise<User | null> {
    const data = await this.client.get(this.key('u', id));
    return data ? (JSON.parse(data) as User) : null;
  }

  async getUserByEmail(email: string): Promise<User | null> {
    const id = await this.client.get(this.key('ue', email.toLowerCase()));
    return id ? this.getUser(id) : null;
  }

  async createUser(user: User): Promise<User> {
    const email = user.email.toLowerCase();
    const claimed = await this.client.set(this.key('ue', email), user.id, 'NX');
    if (claimed !== 'OK') {
      const existing = await this.getUserByEmail(email);
      if (existing) return existing;
      throw new Error('user email index points at a missing user');
    }
    const stored = { ...user, email };
    await this.client.set(this.key('u', user.id), JSON.stringify(stored));
    await this.client.zadd(this.key('index', 'users'), 0, `${email}\u0000${user.id}`);
    return stored;
  }

  async updateUser(user: User): Promise<void> {
    const email = user.email.toLowerCase();
    const previous = await this.getUser(user.id);
    await this.client.set(this.key('u', user.id), JSON.stringify({ ...user, email }));
    if (previous && previous.email !== email) {
      await this.client.del(this.key('ue', previous.email));
      await this.client.zrem(this.key('index', 'users'), `${previous.email}\u0000${user.id}`);
    }
    await this.client.set(this.key('ue', email), user.id);
    await this.client.zadd(this.key('index', 'users'), 0, `${email}\u0000${user.id}`);
  }

  async listUsers(query: { search?: string; offset: number; limit: number }): Promise<UserPage> {
    const members = await this.client.zrange(this.key('index', 'users'), 0, -1);
    const ids = members.map((m) => m.slice(m.indexOf('\u0000') + 1));
    const needle = query.search?.toLowerCase().trim();
    let users: User[];
    if (needle) {
      const all = await Promise.all(ids.map((id) => this.getUser(id)));
      users = all.filter(
        (u): u is User =>
          u !== null && (u.email.includes(needle) || u.name.toLowerCase().includes(needle)),
      );
      return { users: users.slice(query.offset, query.offset + query.limit), total: users.length };
    }
    const page = ids.slice(query.offset, query.offset + query.limit);
    const loaded = await Promise.all(page.map((id) => this.getUser(id)));
    return { users: loaded.filter((u): u is User => u !== null), total: ids.length };
  }

  async hit(key: string, windowMs: number): Promise<number> {
    return Number(await this.client.eval(HIT, 1, this.key('c', key), String(windowMs)));
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.availabilityListeners.push(listener);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
