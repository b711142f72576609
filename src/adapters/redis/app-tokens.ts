import {
  APP_TOKEN_KEEP_MS,
  type AppTokenRecord,
  type AppTokenStore,
} from '../../ports/app-tokens.js';
import type { RedisContext } from './context.js';

/*
 * This port's scripts, defined on the command client beside the shared ones (scripts.ts). Each
 * touches exactly one key, so the store also runs on Redis Cluster; expiry decisions use the
 * injected clock (ARGV), the Redis TTLs only reclaim memory.
 */
const APP_TOKEN_SCRIPTS = {
  // KEYS[1] a token hash; ARGV lastUsedAt. Only an existing record, only forward.
  atTouch: {
    numberOfKeys: 1,
    lua: `if redis.call('HEXISTS', KEYS[1], 'data') == 1 then
  local last = tonumber(redis.call('HGET', KEYS[1], 'lastUsedAt') or '0')
  if tonumber(ARGV[1]) > last then redis.call('HSET', KEYS[1], 'lastUsedAt', ARGV[1]) end
end
return 0`,
  },
  // KEYS[1] a token hash; ARGV revokedAt, keep ms. Returns {data, lastUsedAt or ''} when this call
  // revoked it, false when there is no record or it was already revoked. The record is kept
  // (shortened to `keep ms` if it had longer) so checks can say "revoked".
  atRevoke: {
    numberOfKeys: 1,
    lua: `local data = redis.call('HGET', KEYS[1], 'data')
if not data then return false end
if redis.call('HEXISTS', KEYS[1], 'revokedAt') == 1 then return false end
local last = redis.call('HGET', KEYS[1], 'lastUsedAt') or ''
redis.call('HSET', KEYS[1], 'revokedAt', ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or ttl > tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {data, last}`,
  },
  // KEYS[1] a user's set of token hashes; ARGV hash, ttl ms ('' = keep for good). The set lives
  // as long as its longest-kept record.
  atIndex: {
    numberOfKeys: 1,
    lua: `local existed = redis.call('EXISTS', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == '' then redis.call('PERSIST', KEYS[1]) return 1 end
local ttl = redis.call('PTTL', KEYS[1])
if existed == 0 or (ttl >= 0 and ttl < tonumber(ARGV[2])) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`,
  },
} as const;

type AppTokenScripted = Record<
  keyof typeof APP_TOKEN_SCRIPTS,
  (key: string, ...args: string[]) => Promise<unknown>
>;

type StoredData = Omit<AppTokenRecord, 'lastUsedAt' | 'revokedAt'>;

/** When the record may go: APP_TOKEN_KEEP_MS after it expired or was revoked; null for never. */
function dropAt(record: Pick<AppTokenRecord, 'expiresAt' | 'revokedAt'>): number | null {
  const ends = [record.expiresAt, record.revokedAt].filter((t): t is number => t !== null);
  return ends.length === 0 ? null : Math.min(...ends) + APP_TOKEN_KEEP_MS;
}

function toRecord(
  data: string,
  lastUsedAt: string | null,
  revokedAt: string | null,
): AppTokenRecord {
  return {
    ...(JSON.parse(data) as StoredData),
    lastUsedAt: lastUsedAt ? Number(lastUsedAt) : null,
    revokedAt: revokedAt ? Number(revokedAt) : null,
  };
}

/**
 * Keys: `at:<hash>` a record (hash: `data` JSON, `lastUsedAt` and `revokedAt` apart so a touch or
 * a revocation writes one field), `atid:<id>` the hash of a token id, `uat:<userId>` the set of a
 * user's token hashes. A check reads one key; every write is single-key commands or scripts.
 */
export class RedisAppTokens implements AppTokenStore {
  private readonly scripts: AppTokenScripted;

  constructor(private readonly ctx: RedisContext) {
    for (const [name, definition] of Object.entries(APP_TOKEN_SCRIPTS))
      ctx.client.defineCommand(name, definition);
    this.scripts = ctx.client as unknown as AppTokenScripted;
  }

  private recordKey(hash: string): string {
    return this.ctx.key('at', hash);
  }

  async createAppToken(record: AppTokenRecord): Promise<void> {
    const { lastUsedAt, revokedAt, ...data } = record;
    const until = dropAt(record);
    const ttl = until === null ? '' : this.ctx.ttl(until);
    // Indexes first: a crash in between leaves an index entry without a record (skipped and
    // pruned by `listUserAppTokens`), never a token that no list shows and no id revokes.
    await this.scripts.atIndex(this.ctx.key('uat', record.userId), record.hash, ttl);
    const idKey = this.ctx.key('atid', record.id);
    if (ttl === '') await this.ctx.client.set(idKey, record.hash);
    else await this.ctx.client.set(idKey, record.hash, 'PX', ttl);
    const key = this.recordKey(record.hash);
    const fields: string[] = ['data', JSON.stringify(data)];
    if (lastUsedAt !== null) fields.push('lastUsedAt', String(lastUsedAt));
    if (revokedAt !== null) fields.push('revokedAt', String(revokedAt));
    const write = this.ctx.client.multi().hset(key, ...fields);
    if (ttl !== '') write.pexpire(key, ttl);
    const results = await write.exec();
    for (const [error] of results ?? []) if (error) throw error;
  }

  async findAppTokenByHash(hash: string): Promise<AppTokenRecord | null> {
    const [data, lastUsedAt, revokedAt] = await this.ctx.client.hmget(
      this.recordKey(hash),
      'data',
      'lastUsedAt',
      'revokedAt',
    );
    if (!data) return null;
    const record = toRecord(data, lastUsedAt ?? null, revokedAt ?? null);
    const until = dropAt(record);
    return until !== null && until <= this.ctx.clock.now() ? null : record;
  }

  async getAppToken(id: string): Promise<AppTokenRecord | null> {
    const hash = await this.ctx.client.get(this.ctx.key('atid', id));
    if (!hash) return null;
    const record = await this.findAppTokenByHash(hash);
    return record?.id === id ? record : null;
  }

  async listUserAppTokens(userId: string): Promise<AppTokenRecord[]> {
    const indexKey = this.ctx.key('uat', userId);
    const hashes = await this.ctx.client.smembers(indexKey);
    const records = await Promise.all(hashes.map((hash) => this.findAppTokenByHash(hash)));
    const stale = hashes.filter((_hash, index) => records[index]?.userId !== userId);
    if (stale.length) await this.ctx.client.srem(indexKey, ...stale);
    return records
      .filter((r): r is AppTokenRecord => r !== null && r.userId === userId && r.revokedAt === null)
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  async revokeAppToken(id: string, at: number): Promise<AppTokenRecord | null> {
    const hash = await this.ctx.client.get(this.ctx.key('atid', id));
    if (!hash) return null;
    const keep = String(Math.max(1, at + APP_TOKEN_KEEP_MS - this.ctx.clock.now()));
    const result = (await this.scripts.atRevoke(this.recordKey(hash), String(at), keep)) as
      | [string, string]
      | null;
    if (!result) return null;
    const record = toRecord(result[0], result[1] || null, null);
    if (record.id !== id) return null;
    // The id index goes with the record (never before it: a revoke must find it again).
    await this.ctx.client.pexpire(this.ctx.key('atid', id), keep);
    return record;
  }

  async revokeUserAppTokens(userId: string, at: number): Promise<AppTokenRecord[]> {
    const revoked: AppTokenRecord[] = [];
    for (const record of await this.listUserAppTokens(userId)) {
      const before = await this.revokeAppToken(record.id, at);
      if (before) revoked.push(before);
    }
    return revoked;
  }

  async touchAppToken(id: string, at: number): Promise<void> {
    const hash = await this.ctx.client.get(this.ctx.key('atid', id));
    if (hash) await this.scripts.atTouch(this.recordKey(hash), String(at));
  }
}
