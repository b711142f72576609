import type { Client } from './client.js';

/*
 * Every script touches exactly one key, so the store also runs on Redis Cluster (no CROSSSLOT).
 * Times that decide expiry come from the injected clock (ARGV), so the logic matches the memory
 * store; the Redis TTLs only reclaim memory.
 */
/**
 * The start of the group compare-and-set and compare-and-delete: reads the record and returns
 * {0, current record or false} unless its version (0 for records from before versions) is ARGV[1].
 */
const GROUP_VERSION_GUARD = `local data = redis.call('GET', KEYS[1])
if not data then return {0, false} end
local version = cjson.decode(data).version
if version == nil or version == cjson.null then version = 0 end
if tonumber(version) ~= tonumber(ARGV[1]) then return {0, data} end`;

export const SCRIPTS = {
  // KEYS[1] session hash; ARGV data, lastSeenAt, ttl ms, amr (space-separated; see psAddSessionAmr).
  psCreateSession: {
    numberOfKeys: 1,
    lua: `redis.call('HSET', KEYS[1], 'data', ARGV[1], 'lastSeenAt', ARGV[2], 'amr', ARGV[4] or '')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
  },
  // KEYS[1] session hash; ARGV now, then the methods to add. Merges them into the space-separated
  // `amr` field (a record from before it existed has none: empty). 0 when the session is gone or
  // past its expiresAt (never revives it), else 1. Reads `data` without rewriting it.
  psAddSessionAmr: {
    numberOfKeys: 1,
    lua: `local data = redis.call('HGET', KEYS[1], 'data')
if not data then return 0 end
if tonumber(cjson.decode(data).expiresAt) <= tonumber(ARGV[1]) then return 0 end
local current = redis.call('HGET', KEYS[1], 'amr') or ''
local seen = {}
for word in string.gmatch(current, '%S+') do seen[word] = true end
for i = 2, #ARGV do
  if not seen[ARGV[i]] then
    seen[ARGV[i]] = true
    if current == '' then current = ARGV[i] else current = current .. ' ' .. ARGV[i] end
  end
end
redis.call('HSET', KEYS[1], 'amr', current)
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
    lua: `${GROUP_VERSION_GUARD}
redis.call('SET', KEYS[1], ARGV[2])
return {1, data}`,
  },
  // KEYS[1] a group record; ARGV expected version. Compare-and-delete, versions as psGroupCas:
  // {1, deleted record} when it deleted, {0, current record or false} when it did not.
  psGroupCad: {
    numberOfKeys: 1,
    lua: `${GROUP_VERSION_GUARD}
redis.call('DEL', KEYS[1])
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

type ScriptName = keyof typeof SCRIPTS;

/** The scripts as commands of the client they were defined on: each takes its one key, then ARGV. */
export type Scripted = Record<ScriptName, (key: string, ...args: string[]) => Promise<unknown>>;

/** Defines every script on `client` (EVALSHA, with EVAL when the server does not have it yet). */
export function defineScripts(client: Client): Scripted {
  for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition);
  return client as unknown as Scripted;
}
