import type {
  PasskeyChallenge,
  PasskeyChallengeStore,
  PasskeyRecord,
  PasskeyStore,
} from '../../ports/passkeys.js';
import { byCreation } from '../passkey-order.js';
import type { RedisContext } from './context.js';

/*
 * This port's scripts, defined on the command client beside the shared ones. Each touches exactly
 * one key (Redis Cluster safe). Credentials never expire; challenges carry a TTL and their
 * expiry is decided on the injected clock.
 */
const PASSKEY_SCRIPTS = {
  // KEYS[1] a credential; ARGV field/value pairs. 0 (nothing written) when the ID exists.
  pkCreate: {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`,
  },
  // KEYS[1] a credential; ARGV counter, backedUp (1/0), at. WebAuthn §6.1.1: only a higher
  // counter (or 0 after 0) is accepted, checked and written in one step so two replays of one
  // assertion cannot both pass.
  pkCounter: {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local stored = tonumber(redis.call('HGET', KEYS[1], 'counter') or '0')
local new = tonumber(ARGV[1])
if not (new > stored or (new == 0 and stored == 0)) then return 0 end
redis.call('HSET', KEYS[1], 'counter', ARGV[1], 'backedUp', ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[1], 'lastUsedAt') or '0')
if tonumber(ARGV[3]) > last then redis.call('HSET', KEYS[1], 'lastUsedAt', ARGV[3]) end
return 1`,
  },
  // KEYS[1] a credential; ARGV owner, name.
  pkRename: {
    numberOfKeys: 1,
    lua: `if redis.call('HGET', KEYS[1], 'userId') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[2])
return 1`,
  },
  // KEYS[1] a credential; ARGV owner ('' = any). Returns the removed hash's fields, or false.
  pkRemove: {
    numberOfKeys: 1,
    lua: `local owner = redis.call('HGET', KEYS[1], 'userId')
if not owner then return false end
if ARGV[1] ~= '' and owner ~= ARGV[1] then return false end
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return all`,
  },
} as const;

type PasskeyScripted = Record<
  keyof typeof PASSKEY_SCRIPTS,
  (key: string, ...args: string[]) => Promise<unknown>
>;

/** The fields that never change after registration, stored as one JSON value. */
type FixedData = Pick<
  PasskeyRecord,
  'id' | 'userId' | 'publicKey' | 'transports' | 'deviceType' | 'createdAt' | 'aaguid'
>;

function toFields(record: PasskeyRecord): string[] {
  const { name, counter, backedUp, lastUsedAt, ...fixed } = record;
  const data: FixedData = fixed;
  const fields = [
    'data',
    JSON.stringify(data),
    'userId',
    record.userId,
    'name',
    name,
    'counter',
    String(counter),
    'backedUp',
    backedUp ? '1' : '0',
  ];
  if (lastUsedAt !== null) fields.push('lastUsedAt', String(lastUsedAt));
  return fields;
}

function fromHash(hash: Record<string, string>): PasskeyRecord | null {
  if (!hash.data || hash.name === undefined) return null;
  const fixed = JSON.parse(hash.data) as FixedData;
  return {
    ...fixed,
    name: hash.name,
    counter: Number(hash.counter ?? '0'),
    backedUp: hash.backedUp === '1',
    lastUsedAt: hash.lastUsedAt ? Number(hash.lastUsedAt) : null,
  };
}

function fromFlat(flat: string[]): PasskeyRecord | null {
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1] as string;
  return fromHash(hash);
}

/**
 * Keys: `pk:<credentialId>` a credential (hash: `data` JSON of the fixed fields; `userId`,
 * `name`, `counter`, `backedUp`, `lastUsedAt` apart, so a sign-in or a rename writes single
 * fields in one script), `upk:<userId>` the set of a user's credential IDs, `pkc:<hash>` a
 * ceremony challenge. Every command and script touches one key.
 */
export class RedisPasskeys implements PasskeyStore, PasskeyChallengeStore {
  private readonly scripts: PasskeyScripted;

  constructor(private readonly ctx: RedisContext) {
    for (const [name, definition] of Object.entries(PASSKEY_SCRIPTS))
      ctx.client.defineCommand(name, definition);
    this.scripts = ctx.client as unknown as PasskeyScripted;
  }

  private recordKey(id: string): string {
    return this.ctx.key('pk', id);
  }

  private indexKey(userId: string): string {
    return this.ctx.key('upk', userId);
  }

  async createPasskey(record: PasskeyRecord): Promise<boolean> {
    // Index first: a crash in between leaves an index entry without a record (skipped by lists),
    // never a credential that signs in but that no list shows and no removal finds.
    const index = this.indexKey(record.userId);
    await this.ctx.client.sadd(index, record.id);
    const created = Number(
      await this.scripts.pkCreate(this.recordKey(record.id), ...toFields(record)),
    );
    if (created === 1) return true;
    const owner = await this.ctx.client.hget(this.recordKey(record.id), 'userId');
    if (owner !== record.userId) await this.ctx.client.srem(index, record.id);
    return false;
  }

  async getPasskey(id: string): Promise<PasskeyRecord | null> {
    return fromHash(await this.ctx.client.hgetall(this.recordKey(id)));
  }

  async listUserPasskeys(userId: string): Promise<PasskeyRecord[]> {
    const ids = await this.ctx.client.smembers(this.indexKey(userId));
    const records = await Promise.all(ids.map((id) => this.getPasskey(id)));
    return records
      .filter((r): r is PasskeyRecord => r !== null && r.userId === userId)
      .sort(byCreation);
  }

  async updatePasskeyCounter(
    id: string,
    counter: number,
    backedUp: boolean,
    at: number,
  ): Promise<boolean> {
    const done = await this.scripts.pkCounter(
      this.recordKey(id),
      String(counter),
      backedUp ? '1' : '0',
      String(at),
    );
    return Number(done) === 1;
  }

  async renamePasskey(id: string, userId: string, name: string): Promise<boolean> {
    return Number(await this.scripts.pkRename(this.recordKey(id), userId, name)) === 1;
  }

  async removePasskey(id: string, userId?: string): Promise<PasskeyRecord | null> {
    const flat = (await this.scripts.pkRemove(this.recordKey(id), userId ?? '')) as string[] | null;
    if (!flat) return null;
    const record = fromFlat(flat);
    if (record) await this.ctx.client.srem(this.indexKey(record.userId), id);
    return record;
  }

  async removeUserPasskeys(userId: string): Promise<PasskeyRecord[]> {
    const index = this.indexKey(userId);
    const ids = await this.ctx.client.smembers(index);
    const removed: PasskeyRecord[] = [];
    for (const id of ids) {
      const record = await this.removePasskey(id, userId);
      if (record) removed.push(record);
    }
    // Entries whose record is gone or belongs to someone else (a refused create, a crash).
    if (ids.length) await this.ctx.client.srem(index, ...ids);
    return removed;
  }

  async putPasskeyChallenge(key: string, challenge: PasskeyChallenge): Promise<void> {
    await this.ctx.client.set(
      this.ctx.key('pkc', key),
      JSON.stringify(challenge),
      'PX',
      this.ctx.ttl(challenge.expiresAt),
    );
  }

  async takePasskeyChallenge(key: string): Promise<PasskeyChallenge | null> {
    // GETDEL: one atomic step, so two instances racing on one challenge cannot both win.
    const data = await this.ctx.client.getdel(this.ctx.key('pkc', key));
    if (!data) return null;
    const challenge = JSON.parse(data) as PasskeyChallenge;
    return challenge.expiresAt > this.ctx.clock.now() ? challenge : null;
  }
}
