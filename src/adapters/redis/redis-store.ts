import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Clock } from '../../core/clock.js';
import {
  AUDIT_KEEP,
  type AuditEntry,
  EmailTakenError,
  type Group,
  GroupNameTakenError,
  type GroupPage,
  GroupVersionConflictError,
  type IdentityLink,
  type Session,
  type Store,
  type TokenRecord,
  type User,
  type UserPage,
} from '../../ports/store.js';
import { reportOutages } from './report-outages.js';

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

/*
 * Every script touches exactly one key, so the store also runs on Redis Cluster (no CROSSSLOT).
 * Times that decide expiry come from the injected clock (ARGV), so the logic matches the memory
 * store; the Redis TTLs only reclaim memory.
 */
const SCRIPTS = {
  // KEYS[1] session hash; ARGV data, lastSeenAt, ttl ms.
  psCreateSession: {
    numberOfKeys: 1,
    lua: `redis.call('HSET', KEYS[1], 'data', ARGV[1], 'lastSeenAt', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
  },
  // KEYS[1] per-user index set; ARGV session id, ttl ms. The index lives as long as its longest session.
  psIndexSession: {
    numberOfKeys: 1,
    lua: `redis.call('SADD', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= 0 and ttl < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif ttl == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`,
  },
  // KEYS[1] session hash; ARGV lastSeenAt. Never revives a deleted session.
  psTouchSession: {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then
  local last = tonumber(redis.call('HGET', KEYS[1], 'lastSeenAt') or '0')
  if tonumber(ARGV[1]) > last then redis.call('HSET', KEYS[1], 'lastSeenAt', ARGV[1]) end
end
return 0`,
  },
  // KEYS[1] session hash: returns its data (or false) and deletes it in one step.
  psTakeSession: {
    numberOfKeys: 1,
    lua: `local data = redis.call('HGET', KEYS[1], 'data')
redis.call('DEL', KEYS[1])
return data`,
  },
  // KEYS[1] used-marker; ARGV now, expiresAt, ttl ms. 1 only for the first caller before expiresAt.
  psMarkUsed: {
    numberOfKeys: 1,
    lua: `local until_ = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`,
  },
  // KEYS[1] an address's link floor; ARGV mode, at-least (next) or stamp (raise), keep ms ('' to
  // keep until changed). `next` sets max(floor + 1, at-least) and returns it; `raise` only moves
  // it up.
  psLinkFloor: {
    numberOfKeys: 1,
    lua: `local floor = tonumber(redis.call('GET', KEYS[1]) or '0')
local value = tonumber(ARGV[2])
if ARGV[1] == 'next' then value = math.max(floor + 1, value)
elseif value <= floor then return string.format('%.0f', floor) end
local text = string.format('%.0f', value)
if ARGV[3] == '' then redis.call('SET', KEYS[1], text)
else redis.call('SET', KEYS[1], text, 'PX', ARGV[3]) end
return text`,
  },
  // KEYS[1] counter hash; ARGV now, window ms. Fixed window starting at the first hit.
  psHit: {
    numberOfKeys: 1,
    lua: `local reset = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
if reset <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'c', 1, 'r', tonumber(ARGV[1]) + tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return redis.call('HINCRBY', KEYS[1], 'c', 1)`,
  },
  // KEYS[1] an index entry; ARGV expected value. Deletes it only while it still names that value.
  psDelIfEquals: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
  // KEYS[1] a group record; ARGV expected version, new record (JSON, already carrying the bumped
  // version). Compare-and-set: writes only while the stored record has the expected version
  // (records from before versions existed count as 0). Returns {1, previous record} when it
  // wrote, {0, current record or false} when it did not.
  psGroupCas: {
    numberOfKeys: 1,
    lua: `local data = redis.call('GET', KEYS[1])
if not data then return {0, false} end
local version = cjson.decode(data).version
if version == nil or version == cjson.null then version = 0 end
if tonumber(version) ~= tonumber(ARGV[1]) then return {0, data} end
redis.call('SET', KEYS[1], ARGV[2])
return {1, data}`,
  },
  // KEYS[1] a user's audit trail (a list, newest first); ARGV entry (JSON), entries kept, keep ms.
  psAppendAudit: {
    numberOfKeys: 1,
    lua: `redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
  },
  // KEYS[1] a user record; ARGV the record as read, the record to store. Compare-and-set on the
  // whole value: 1 when it wrote, 0 when the record changed (or went) since it was read.
  psSetIfEquals: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`,
  },
} as const;

/**
 * A trail untouched this long goes: only memory reclaim (a user's trail is removed with the
 * user, but an entry racing a deletion could otherwise leave one behind for good).
 */
const AUDIT_RETENTION_MS = 365 * 24 * 3600 * 1000;

type ScriptName = keyof typeof SCRIPTS;
type Scripted = Record<ScriptName, (key: string, ...args: string[]) => Promise<unknown>>;

/** A stored group; records written before versions existed read as version 0. */
function parseGroup(data: string): Group {
  const group = JSON.parse(data) as Group;
  return { ...group, version: group.version ?? 0 };
}

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

function createClient(options: RedisStoreOptions): Client {
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

const CLUSTER_SLOTS = 16_384;

/**
 * Every slot has a primary, each of those answers PING, and the cluster says it is whole. The
 * client drops a dead node's connection from its pool while the slot map still names it, so
 * pinging the pool alone would miss exactly the node that is down; a node back from a restart
 * answers PING before the others have taken it back, which `cluster_state` reports.
 */
async function clusterReady(cluster: Cluster): Promise<boolean> {
  const owners = new Set<string>();
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const owner = cluster.slots[slot]?.[0];
    if (owner === undefined) return false;
    owners.add(owner);
  }
  const pool = new Map(
    cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]),
  );
  const primaries = [...owners].map((key) => pool.get(key));
  if (primaries.some((node) => node === undefined)) return false;
  const [info] = await Promise.all([
    cluster.cluster('INFO'),
    ...primaries.map((node) => (node as Redis).ping()),
  ]);
  return /^cluster_state:ok\r?$/m.test(String(info));
}

/**
 * Tracks whether one connection can serve requests. ioredis reports a lost connection on the
 * socket's 'close', which comes a loop phase after the socket's 'end'/'error'; watching the
 * socket directly closes the window in which a local cache could still answer after Redis died.
 */
function watchConnection(client: Client, onChange: (up: boolean) => void): void {
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

/** Store shared by several instances through Redis. Revocations travel over pub/sub. */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly client: Client;
  private readonly scripts: Scripted;
  private readonly subscriber: Client;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly revokeListeners: ((id: string) => void)[] = [];
  private readonly availabilityListeners: ((available: boolean) => void)[] = [];
  private readonly channel: string;
  private available = false;
  private clientUp = false;
  private subscribed = false;
  private subscribeEpoch = 0;
  private closing = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.keyPrefix;
    this.clock = options.clock;
    this.channel = `${this.prefix}revoked`;
    this.client = createClient(options);
    // Every method's commands go through this client: an outage rejects with StoreUnavailableError.
    reportOutages(this.client);
    for (const [name, definition] of Object.entries(SCRIPTS))
      this.client.defineCommand(name, definition);
    this.scripts = this.client as unknown as Scripted;
    this.subscriber = createClient(options);
    watchConnection(this.client, (up) => {
      this.clientUp = up;
      this.update();
    });
    watchConnection(this.subscriber, (up) => {
      // Revocations may be missed while the subscriber is away: caches must be dropped, and
      // the store counts as back only once SUBSCRIBE has been confirmed again.
      this.subscribeEpoch += 1;
      this.subscribed = false;
      this.update();
      if (up) this.subscribe(this.subscribeEpoch);
    });
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      for (const listener of this.revokeListeners) listener(message);
    });
  }

  private subscribe(epoch: number): void {
    this.subscriber.subscribe(this.channel).then(
      () => {
        if (epoch !== this.subscribeEpoch) return;
        this.subscribed = true;
        this.update();
      },
      // The connection went away again; the next 'ready' retries.
      () => {},
    );
  }

  private update(): void {
    const now = !this.closing && this.clientUp && this.subscribed;
    if (now === this.available) return;
    this.available = now;
    for (const listener of this.availabilityListeners) listener(now);
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

  private ttl(expiresAt: number): string {
    return String(Math.max(1, expiresAt - this.clock.now()));
  }

  async createSession(session: Session): Promise<void> {
    const { lastSeenAt, ...rest } = session;
    const ttl = this.ttl(session.expiresAt);
    await Promise.all([
      this.scripts.psCreateSession(
        this.key('s', session.id),
        JSON.stringify(rest),
        String(lastSeenAt),
        ttl,
      ),
      this.scripts.psIndexSession(this.key('us', session.userId), session.id, ttl),
    ]);
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
    await this.scripts.psTouchSession(this.key('s', id), String(lastSeenAt));
  }

  async deleteSession(id: string): Promise<void> {
    const data = (await this.scripts.psTakeSession(this.key('s', id))) as string | null;
    if (data) {
      const { userId } = JSON.parse(data) as { userId: string };
      await this.client.srem(this.key('us', userId), id);
    }
    // Announced even when the record was already gone: another instance may still cache it.
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
    if (ids.length === 0) return [];
    await Promise.all(ids.map((id) => this.client.del(this.key('s', id))));
    await this.client.srem(indexKey, ...ids);
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

  async peekToken(hash: string): Promise<TokenRecord | null> {
    const data = await this.client.get(this.key('t', hash));
    if (!data) return null;
    const record = JSON.parse(data) as TokenRecord;
    return record.expiresAt > this.clock.now() ? record : null;
  }

  async markUsed(key: string, expiresAt: number): Promise<boolean> {
    const first = await this.scripts.psMarkUsed(
      this.key('used', key),
      String(this.clock.now()),
      String(expiresAt),
      this.ttl(expiresAt),
    );
    return Number(first) === 1;
  }

  private linkFloorKey(email: string): string {
    return this.key('lf', email.toLowerCase());
  }

  async nextLinkStamp(email: string, atLeast: number, keepMs: number | null): Promise<number> {
    const stamp = await this.scripts.psLinkFloor(
      this.linkFloorKey(email),
      'next',
      String(atLeast),
      keepMs === null ? '' : String(Math.max(1, keepMs)),
    );
    return Number(stamp);
  }

  /** Past every link issued so far, this millisecond's included (a tie is refused). */
  private async voidLinks(email: string): Promise<void> {
    await this.nextLinkStamp(email, this.clock.now() + 1, null);
  }

  async raiseLinkFloor(email: string, stamp: number, keepMs: number): Promise<void> {
    await this.scripts.psLinkFloor(
      this.linkFloorKey(email),
      'raise',
      String(stamp),
      String(Math.max(1, keepMs)),
    );
  }

  async getLinkFloor(email: string): Promise<number> {
    return Number((await this.client.get(this.linkFloorKey(email))) ?? 0);
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
    const stored = { ...user, email };
    // The record is written before the email is claimed, so a claimed email always points at
    // an existing record (a crash in between leaves only an unreferenced record behind).
    await this.client.set(this.key('u', user.id), JSON.stringify(stored));
    const claimed = await this.client.set(this.key('ue', email), user.id, 'NX');
    if (claimed !== 'OK') {
      const owner = await this.client.get(this.key('ue', email));
      if (owner !== user.id) {
        await this.client.del(this.key('u', user.id));
        const existing = owner ? await this.getUser(owner) : null;
        if (existing) return existing;
        throw new Error('user email index points at a missing user');
      }
    }
    await this.client.zadd(this.key('index', 'users'), 0, `${email}\u0000${user.id}`);
    if (!stored.active) await this.voidLinks(email);
    return stored;
  }

  async updateUser(user: User): Promise<void> {
    const email = user.email.toLowerCase();
    const previous = await this.getUser(user.id);
    if (!previous || previous.email !== email) {
      const claimed = await this.client.set(this.key('ue', email), user.id, 'NX');
      if (claimed !== 'OK' && (await this.client.get(this.key('ue', email))) !== user.id)
        throw new EmailTakenError(email);
    }
    await this.client.set(this.key('u', user.id), JSON.stringify({ ...user, email }));
    if (previous && previous.email !== email) {
      await this.client.del(this.key('ue', previous.email));
      await this.client.zrem(this.key('index', 'users'), `${previous.email}\u0000${user.id}`);
    }
    await this.client.zadd(this.key('index', 'users'), 0, `${email}\u0000${user.id}`);
    if (previous?.active && !user.active) {
      await this.voidLinks(previous.email);
      if (previous.email !== email) await this.voidLinks(email);
    }
  }

  async updateUserGroups(
    id: string,
    change: (groups: readonly string[]) => string[],
  ): Promise<boolean> {
    const key = this.key('u', id);
    // Optimistic: re-read and re-apply until no other write slipped in between. Each round that
    // loses was beaten by a write that succeeded, so this ends once writers to this user pause.
    for (;;) {
      const data = await this.client.get(key);
      if (!data) return false;
      const user = JSON.parse(data) as User;
      const groups = change(user.groups);
      if (groups.length === user.groups.length && groups.every((g, i) => g === user.groups[i]))
        return false;
      const next = JSON.stringify({ ...user, groups });
      if (Number(await this.scripts.psSetIfEquals(key, data, next)) === 1) return true;
    }
  }

  async listUsers(query: { search?: string; offset: number; limit: number }): Promise<UserPage> {
    const members = await this.client.zrange(this.key('index', 'users'), 0, -1);
    const ids = members.map((m) => m.slice(m.indexOf('\u0000') + 1));
    const needle = query.search?.toLowerCase().trim();
    if (needle) {
      const all = await Promise.all(ids.map((id) => this.getUser(id)));
      const users = all.filter(
        (u): u is User =>
          u !== null && (u.email.includes(needle) || u.name.toLowerCase().includes(needle)),
      );
      return { users: users.slice(query.offset, query.offset + query.limit), total: users.length };
    }
    const page = ids.slice(query.offset, query.offset + query.limit);
    const loaded = await Promise.all(page.map((id) => this.getUser(id)));
    return { users: loaded.filter((u): u is User => u !== null), total: ids.length };
  }

  async deleteUser(id: string): Promise<void> {
    const user = await this.getUser(id);
    if (!user) return;
    await this.client.del(this.key('u', id));
    await this.scripts.psDelIfEquals(this.key('ue', user.email), id);
    await this.client.zrem(this.key('index', 'users'), `${user.email}\u0000${id}`);
    await this.client.del(this.key('audit', id));
    await this.voidLinks(user.email);
  }

  async getGroup(id: string): Promise<Group | null> {
    const data = await this.client.get(this.key('g', id));
    return data ? parseGroup(data) : null;
  }

  async getGroupByName(displayName: string): Promise<Group | null> {
    const id = await this.client.get(this.key('gn', displayName.toLowerCase()));
    return id ? this.getGroup(id) : null;
  }

  async createGroup(group: Group): Promise<Group> {
    const name = group.displayName.toLowerCase();
    // As for users: the record first, then the name claim (SET NX decides between racing creators).
    await this.client.set(this.key('g', group.id), JSON.stringify(group));
    const claimed = await this.client.set(this.key('gn', name), group.id, 'NX');
    if (claimed !== 'OK') {
      const owner = await this.client.get(this.key('gn', name));
      if (owner !== group.id) {
        await this.client.del(this.key('g', group.id));
        const existing = owner ? await this.getGroup(owner) : null;
        if (existing) return existing;
        throw new Error('group name index points at a missing group');
      }
    }
    await this.client.zadd(this.key('index', 'groups'), 0, `${name}\u0000${group.id}`);
    return group;
  }

  /*
   * The record is written by one single-key compare-and-set script (psGroupCas), so two
   * instances that read the same version cannot both write: the loser gets
   * GroupVersionConflictError and redoes its change on the newer record. The name index stays
   * as for createGroup: a new name is claimed with SET NX before the write (the claim decides
   * between groups racing for one name), the old name released afterwards only while it still
   * names this group. A claim made for a write that then lost its compare-and-set is released
   * unless the record now stored carries that name (the winner renamed it the same way). The one
   * window left: a third write renaming the group to that same name between the failed script
   * and the release; the name index then misses the group until its next rename.
   */
  async updateGroup(group: Group): Promise<Group> {
    const name = group.displayName.toLowerCase();
    const current = await this.getGroup(group.id);
    if (!current || current.version !== group.version)
      throw new GroupVersionConflictError(group.id);
    let claimedNow = false;
    if (current.displayName.toLowerCase() !== name) {
      const claimed = await this.client.set(this.key('gn', name), group.id, 'NX');
      claimedNow = claimed === 'OK';
      if (!claimedNow && (await this.client.get(this.key('gn', name))) !== group.id)
        throw new GroupNameTakenError(group.displayName);
    }
    const stored: Group = { ...group, version: group.version + 1 };
    const [wrote, data] = (await this.scripts.psGroupCas(
      this.key('g', group.id),
      String(group.version),
      JSON.stringify(stored),
    )) as [number, string | null];
    if (Number(wrote) !== 1) {
      const now = data ? parseGroup(data) : null;
      if (claimedNow && now?.displayName.toLowerCase() !== name)
        await this.scripts.psDelIfEquals(this.key('gn', name), group.id);
      throw new GroupVersionConflictError(group.id);
    }
    const previousName = parseGroup(data as string).displayName.toLowerCase();
    if (previousName !== name) {
      await this.scripts.psDelIfEquals(this.key('gn', previousName), group.id);
      await this.client.zrem(this.key('index', 'groups'), `${previousName}\u0000${group.id}`);
    }
    await this.client.zadd(this.key('index', 'groups'), 0, `${name}\u0000${group.id}`);
    return stored;
  }

  async deleteGroup(id: string): Promise<void> {
    const group = await this.getGroup(id);
    if (!group) return;
    const name = group.displayName.toLowerCase();
    await this.client.del(this.key('g', id));
    await this.scripts.psDelIfEquals(this.key('gn', name), id);
    await this.client.zrem(this.key('index', 'groups'), `${name}\u0000${id}`);
  }

  async listGroups(query: { offset: number; limit: number }): Promise<GroupPage> {
    const index = this.key('index', 'groups');
    const total = await this.client.zcard(index);
    if (query.limit <= 0 || query.offset >= total) return { groups: [], total };
    const page = await this.client.zrange(index, query.offset, query.offset + query.limit - 1);
    const ids = page.map((m) => m.slice(m.indexOf('\u0000') + 1));
    const loaded = await Promise.all(ids.map((id) => this.getGroup(id)));
    return { groups: loaded.filter((g): g is Group => g !== null), total };
  }

  /** `ident:<issuer>:<sub>`, both URI-encoded so a `:` in either cannot make two pairs collide. */
  private identityKey(issuer: string, subject: string): string {
    return this.key('ident', `${encodeURIComponent(issuer)}:${encodeURIComponent(subject)}`);
  }

  async getIdentity(issuer: string, subject: string): Promise<IdentityLink | null> {
    const data = await this.client.get(this.identityKey(issuer, subject));
    return data ? (JSON.parse(data) as IdentityLink) : null;
  }

  /** `uident:<userId>`: a set of identity keys, a superset of the user's links (see `linkIdentity`). */
  private userIdentitiesKey(userId: string): string {
    return this.key('uident', userId);
  }

  async linkIdentity(link: IdentityLink): Promise<IdentityLink> {
    const key = this.identityKey(link.issuer, link.subject);
    const index = this.userIdentitiesKey(link.userId);
    // Indexed before the link exists, so a crash in between leaves an extra index entry (which
    // `listUserIdentities` skips), never a link the index misses.
    await this.client.sadd(index, key);
    // SET NX: of two instances linking the same identity at once, exactly one link is stored.
    // A retry covers a link deleted between the SET and the GET.
    for (let attempt = 0; attempt < 3; attempt++) {
      if ((await this.client.set(key, JSON.stringify(link), 'NX')) === 'OK') return link;
      const data = await this.client.get(key);
      if (data) {
        const stored = JSON.parse(data) as IdentityLink;
        if (stored.userId !== link.userId) await this.client.srem(index, key);
        return stored;
      }
    }
    throw new Error('identity link keeps changing');
  }

  async updateIdentity(link: IdentityLink): Promise<void> {
    const key = this.identityKey(link.issuer, link.subject);
    // Every sign-in updates its link: this also indexes links stored before the index existed.
    if ((await this.client.set(key, JSON.stringify(link), 'XX')) === 'OK')
      await this.client.sadd(this.userIdentitiesKey(link.userId), key);
  }

  async unlinkIdentity(issuer: string, subject: string): Promise<void> {
    const key = this.identityKey(issuer, subject);
    const data = await this.client.get(key);
    await this.client.del(key);
    if (data)
      await this.client.srem(
        this.userIdentitiesKey((JSON.parse(data) as IdentityLink).userId),
        key,
      );
  }

  async listUserIdentities(userId: string): Promise<IdentityLink[]> {
    const keys = await this.client.smembers(this.userIdentitiesKey(userId));
    const found = await Promise.all(keys.map((key) => this.client.get(key)));
    return found
      .map((data) => (data ? (JSON.parse(data) as IdentityLink) : null))
      .filter((link): link is IdentityLink => link?.userId === userId);
  }

  async appendAudit(userId: string, entry: AuditEntry): Promise<void> {
    await this.scripts.psAppendAudit(
      this.key('audit', userId),
      JSON.stringify(entry),
      String(AUDIT_KEEP),
      String(AUDIT_RETENTION_MS),
    );
  }

  async listAudit(userId: string, limit: number): Promise<AuditEntry[]> {
    if (limit <= 0) return [];
    const rows = await this.client.lrange(this.key('audit', userId), 0, limit - 1);
    return rows.map((row) => JSON.parse(row) as AuditEntry);
  }

  async hit(key: string, windowMs: number): Promise<number> {
    return Number(
      await this.scripts.psHit(this.key('c', key), String(this.clock.now()), String(windowMs)),
    );
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async ready(): Promise<boolean> {
    if (!this.available) return false;
    try {
      if (this.client instanceof Cluster) return await clusterReady(this.client);
      // A Sentinel-discovered node that a failover has just demoted still answers PING.
      const [role] = (await this.client.role()) as [string, ...unknown[]];
      return role === 'master';
    } catch {
      return false;
    }
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.availabilityListeners.push(listener);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.update();
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
