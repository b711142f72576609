import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintAppToken } from '../../src/core/app-token.js';
import type { ManualClock } from '../../src/core/clock.js';
import {
  APP_TOKEN_KEEP_MS,
  type AppTokenRecord,
  type AppTokenStore,
} from '../../src/ports/store.js';
import {
  onRedisCluster,
  redisKeysFixture,
  storeKinds,
  withRawRedis,
} from '../helpers/store-kinds.js';

/**
 * App-token storage, one suite for every store (STYLE §3). "peer" is what another instance holds:
 * the same object for memory, a second RedisStore on the same server and prefix for Redis.
 * Time is a ManualClock: expiry and the keep window are tested by moving it.
 */
const kinds = storeKinds('apptokens');

const DAY = 86_400_000;

function recordFor(
  userId: string,
  clock: ManualClock,
  extra: Partial<AppTokenRecord> = {},
): AppTokenRecord {
  const minted = mintAppToken();
  return {
    id: minted.id,
    userId,
    name: 'obsidian',
    hash: minted.hash,
    createdAt: clock.now(),
    lastUsedAt: null,
    expiresAt: clock.now() + 90 * DAY,
    scope: null,
    revokedAt: null,
    ...extra,
  };
}

async function lifecycle(
  store: AppTokenStore,
  peer: AppTokenStore,
  clock: ManualClock,
): Promise<void> {
  const record = recordFor('u-life', clock, {
    scope: { hosts: ['khoj.example.com'], methods: ['GET'] },
  });
  await store.createAppToken(record);
  expect(await peer.findAppTokenByHash(record.hash)).toEqual(record);
  expect(await peer.getAppToken(record.id)).toEqual(record);
  await peer.touchAppToken(record.id, clock.now() + 5);
  expect((await store.findAppTokenByHash(record.hash))?.lastUsedAt).toBe(clock.now() + 5);
  expect((await store.listUserAppTokens('u-life')).map((r) => r.id)).toEqual([record.id]);
  const revoked = await peer.revokeAppToken(record.id, clock.now() + 10);
  expect(revoked).toEqual({ ...record, lastUsedAt: clock.now() + 5 });
  expect((await store.findAppTokenByHash(record.hash))?.revokedAt).toBe(clock.now() + 10);
  expect(await store.listUserAppTokens('u-life')).toEqual([]);
}

describe.each(kinds)('$name app-token store contract', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(() => kind.closeOpened());

  it('stores a record and finds it by hash and by id, on this and another instance', async () => {
    const { store, peer, clock } = await kind.open();
    const record = recordFor('u1', clock, {
      scope: { hosts: ['*.example.com'], paths: ['/api/**'], methods: ['GET', 'POST'] },
    });
    await store.createAppToken(record);
    expect(await store.findAppTokenByHash(record.hash)).toEqual(record);
    expect(await peer.findAppTokenByHash(record.hash)).toEqual(record);
    expect(await peer.getAppToken(record.id)).toEqual(record);
  });

  it('knows nothing of an unknown hash or id', async () => {
    const { store, clock } = await kind.open();
    await store.createAppToken(recordFor('u1', clock));
    expect(await store.findAppTokenByHash('0'.repeat(64))).toBeNull();
    expect(await store.findAppTokenByHash('')).toBeNull();
    expect(await store.getAppToken('ffffffffffffffff')).toBeNull();
    expect(await store.revokeAppToken('ffffffffffffffff', clock.now())).toBeNull();
    await store.touchAppToken('ffffffffffffffff', clock.now());
    expect(await store.getAppToken('ffffffffffffffff')).toBeNull();
  });

  it('keeps a token without expiry and one with a lastUsedAt as given', async () => {
    const { store, peer, clock } = await kind.open();
    const forever = recordFor('u1', clock, { expiresAt: null, lastUsedAt: clock.now() - 1000 });
    await store.createAppToken(forever);
    clock.advance(5000 * DAY);
    expect(await peer.findAppTokenByHash(forever.hash)).toEqual(forever);
  });

  it("lists a user's live tokens newest first, expired ones included, revoked and others' not", async () => {
    const { store, peer, clock } = await kind.open();
    const old = recordFor('u1', clock, { expiresAt: clock.now() + DAY });
    await store.createAppToken(old);
    clock.advance(1000);
    const middle = recordFor('u1', clock);
    await store.createAppToken(middle);
    clock.advance(1000);
    const newest = recordFor('u1', clock);
    await store.createAppToken(newest);
    await store.createAppToken(recordFor('u2', clock));
    await peer.revokeAppToken(middle.id, clock.now());
    clock.advance(2 * DAY);
    const listed = await peer.listUserAppTokens('u1');
    expect(listed.map((r) => r.id)).toEqual([newest.id, old.id]);
    expect(listed[1]?.expiresAt).toBeLessThan(clock.now());
    expect(await store.listUserAppTokens('nobody')).toEqual([]);
  });

  it('revokes once: the record as it was, then null; every instance sees revokedAt', async () => {
    const { store, peer, clock } = await kind.open();
    const record = recordFor('u1', clock);
    await store.createAppToken(record);
    clock.advance(50);
    const before = await peer.revokeAppToken(record.id, clock.now());
    expect(before).toEqual(record);
    expect(await store.revokeAppToken(record.id, clock.now() + 1)).toBeNull();
    expect(await store.findAppTokenByHash(record.hash)).toEqual({
      ...record,
      revokedAt: clock.now(),
    });
    expect((await peer.getAppToken(record.id))?.revokedAt).toBe(clock.now());
  });

  it('of racing revocations exactly one wins', async () => {
    const { store, peer, clock } = await kind.open();
    const record = recordFor('u1', clock);
    await store.createAppToken(record);
    const results = await Promise.all([
      store.revokeAppToken(record.id, clock.now()),
      peer.revokeAppToken(record.id, clock.now()),
      store.revokeAppToken(record.id, clock.now()),
      peer.revokeAppToken(record.id, clock.now()),
    ]);
    expect(results.filter((r) => r !== null)).toHaveLength(1);
  });

  it('touch moves lastUsedAt forward only, and never un-revokes', async () => {
    const { store, peer, clock } = await kind.open();
    const record = recordFor('u1', clock);
    await store.createAppToken(record);
    await peer.touchAppToken(record.id, clock.now() + 60_000);
    await store.touchAppToken(record.id, clock.now() + 30_000);
    expect((await store.findAppTokenByHash(record.hash))?.lastUsedAt).toBe(clock.now() + 60_000);
    await store.revokeAppToken(record.id, clock.now() + 70_000);
    await peer.touchAppToken(record.id, clock.now() + 90_000);
    const after = await store.findAppTokenByHash(record.hash);
    expect(after?.revokedAt).toBe(clock.now() + 70_000);
    expect(after?.lastUsedAt).toBe(clock.now() + 90_000);
    expect(await store.listUserAppTokens('u1')).toEqual([]);
  });

  it('keeps an expired record APP_TOKEN_KEEP_MS, then forgets it', async () => {
    const { store, peer, clock } = await kind.open();
    const record = recordFor('u1', clock, { expiresAt: clock.now() + DAY });
    await store.createAppToken(record);
    clock.advance(DAY + APP_TOKEN_KEEP_MS - 1);
    expect(await peer.findAppTokenByHash(record.hash)).toEqual(record);
    clock.advance(1);
    expect(await peer.findAppTokenByHash(record.hash)).toBeNull();
    expect(await store.getAppToken(record.id)).toBeNull();
    expect(await store.listUserAppTokens('u1')).toEqual([]);
    await store.touchAppToken(record.id, clock.now());
    expect(await store.findAppTokenByHash(record.hash)).toBeNull();
  });

  it('keeps a revoked record APP_TOKEN_KEEP_MS after the revocation, then forgets it', async () => {
    const { store, peer, clock } = await kind.open();
    const record = recordFor('u1', clock, { expiresAt: clock.now() + 300 * DAY });
    await store.createAppToken(record);
    await store.revokeAppToken(record.id, clock.now());
    clock.advance(APP_TOKEN_KEEP_MS - 1);
    expect((await peer.findAppTokenByHash(record.hash))?.revokedAt).not.toBeNull();
    clock.advance(1);
    expect(await peer.findAppTokenByHash(record.hash)).toBeNull();
  });

  it("revokes every token of one user and nobody else's", async () => {
    const { store, peer, clock } = await kind.open();
    const mine = [recordFor('u1', clock), recordFor('u1', clock), recordFor('u1', clock)];
    const theirs = recordFor('u2', clock);
    for (const record of [...mine, theirs]) await store.createAppToken(record);
    await store.revokeAppToken(mine[0]?.id as string, clock.now());
    const revoked = await peer.revokeUserAppTokens('u1', clock.now() + 1);
    expect(revoked.map((r) => r.id).sort()).toEqual([mine[1]?.id, mine[2]?.id].sort());
    for (const record of mine)
      expect((await store.findAppTokenByHash(record.hash))?.revokedAt).not.toBeNull();
    expect((await store.findAppTokenByHash(theirs.hash))?.revokedAt).toBeNull();
    expect(await peer.revokeUserAppTokens('u1', clock.now())).toEqual([]);
  });

  it('returns copies: changing what it gave back changes nothing stored', async () => {
    const { store, clock } = await kind.open();
    const record = recordFor('u1', clock, { scope: { methods: ['GET'] } });
    await store.createAppToken(record);
    const got = (await store.findAppTokenByHash(record.hash)) as AppTokenRecord;
    got.revokedAt = 1;
    got.scope?.methods?.push('DELETE');
    expect(await store.findAppTokenByHash(record.hash)).toEqual(record);
  });

  it('runs the whole lifecycle', async () => {
    const { store, peer, clock } = await kind.open();
    await lifecycle(store, peer, clock);
  });
});

describe('Redis app-token keys', () => {
  const redis = redisKeysFixture(kinds);

  it('every key it writes for an expiring token goes away on its own', async () => {
    const { store, clock, prefix, server } = await redis.open('atkeys');
    const live = recordFor('u1', clock);
    const revoked = recordFor('u1', clock);
    await store.createAppToken(live);
    await store.createAppToken(revoked);
    await store.touchAppToken(live.id, clock.now() + 1);
    await store.revokeAppToken(revoked.id, clock.now());
    await withRawRedis(server, async (raw) => {
      const keys = await raw.keys(`${prefix}*`);
      expect(keys.length).toBeGreaterThanOrEqual(5);
      for (const key of keys) {
        const ttl = await raw.pttl(key);
        expect(ttl, key).toBeGreaterThan(0);
        expect(ttl, key).toBeLessThanOrEqual(90 * DAY + APP_TOKEN_KEEP_MS);
      }
      expect(await raw.pttl(`${prefix}at:${revoked.hash}`)).toBeLessThanOrEqual(APP_TOKEN_KEEP_MS);
      // No key holds the secret: only hashes and ids appear.
      for (const key of keys)
        expect(key).toMatch(/^atkeys:[0-9a-f]+:(at:[0-9a-f]{64}|atid:[0-9a-f]{16}|uat:u1)$/);
    });
  });
});

describe('app tokens on a Redis Cluster', () => {
  it('runs the whole lifecycle without CROSSSLOT errors', async () => {
    await onRedisCluster('atcluster', async ({ store, peer, clock }) => {
      for (let i = 0; i < 5; i++) await lifecycle(store, peer, clock);
      const records = [
        recordFor('u-many', clock),
        recordFor('u-many', clock),
        recordFor('u-many', clock),
      ];
      for (const record of records) await store.createAppToken(record);
      expect(await peer.listUserAppTokens('u-many')).toHaveLength(3);
      expect(await peer.revokeUserAppTokens('u-many', clock.now())).toHaveLength(3);
    });
  }, 60_000);
});
