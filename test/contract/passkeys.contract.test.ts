import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/core/clock.js';
import type { PasskeyChallengeStore, PasskeyRecord, PasskeyStore } from '../../src/ports/store.js';
import {
  onRedisCluster,
  redisKeysFixture,
  storeKinds,
  withRawRedis,
} from '../helpers/store-kinds.js';

/**
 * Passkey storage, one suite for every store (STYLE §3). "peer" is another instance: the same
 * object for memory, a second RedisStore on the same server and prefix for Redis.
 */
const kinds = storeKinds('passkeys');

type Passkeys = PasskeyStore & PasskeyChallengeStore;

function recordFor(
  userId: string,
  clock: ManualClock,
  extra: Partial<PasskeyRecord> = {},
): PasskeyRecord {
  return {
    id: randomBytes(32).toString('base64url'),
    userId,
    publicKey: randomBytes(77).toString('base64url'),
    counter: 0,
    transports: ['internal', 'hybrid'],
    deviceType: 'multiDevice',
    backedUp: true,
    name: 'Firefox on Linux',
    createdAt: clock.now(),
    lastUsedAt: null,
    aaguid: '00000000-0000-0000-0000-000000000000',
    ...extra,
  };
}

async function lifecycle(store: Passkeys, peer: Passkeys, clock: ManualClock): Promise<void> {
  const record = recordFor('u-life', clock, { counter: 3 });
  expect(await store.createPasskey(record)).toBe(true);
  expect(await peer.createPasskey({ ...record, userId: 'u-other' })).toBe(false);
  expect(await peer.getPasskey(record.id)).toEqual(record);
  expect(await peer.updatePasskeyCounter(record.id, 4, false, clock.now() + 1)).toBe(true);
  expect(await store.updatePasskeyCounter(record.id, 4, false, clock.now() + 2)).toBe(false);
  expect(await store.renamePasskey(record.id, 'u-life', 'Laptop')).toBe(true);
  expect(await peer.listUserPasskeys('u-life')).toEqual([
    { ...record, counter: 4, backedUp: false, lastUsedAt: clock.now() + 1, name: 'Laptop' },
  ]);
  expect(await peer.listUserPasskeys('u-other')).toEqual([]);
  await peer.putPasskeyChallenge('c-life', {
    challenge: 'abc',
    kind: 'login',
    userId: null,
    expiresAt: clock.now() + 1000,
  });
  expect((await store.takePasskeyChallenge('c-life'))?.challenge).toBe('abc');
  expect(await peer.takePasskeyChallenge('c-life')).toBeNull();
  expect((await peer.removePasskey(record.id, 'u-life'))?.id).toBe(record.id);
  expect(await store.getPasskey(record.id)).toBeNull();
  expect(await store.listUserPasskeys('u-life')).toEqual([]);
}

describe.each(kinds)('$name passkey store contract', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(() => kind.closeOpened());

  it('stores a credential and reads it back on this and another instance', async () => {
    const { store, peer, clock } = await kind.open();
    const record = recordFor('u1', clock, { lastUsedAt: clock.now() - 5, counter: 17 });
    expect(await store.createPasskey(record)).toBe(true);
    expect(await store.getPasskey(record.id)).toEqual(record);
    expect(await peer.getPasskey(record.id)).toEqual(record);
    const bare = recordFor('u1', clock, { backedUp: false, deviceType: 'singleDevice' });
    delete bare.aaguid;
    bare.transports = [];
    await store.createPasskey(bare);
    expect(await peer.getPasskey(bare.id)).toEqual(bare);
  });

  it('deleting a user removes their credentials (the IDs can be registered again) and second factors', async () => {
    const { store, peer, clock } = await kind.open();
    const user = await store.createUser({
      id: `u-del-${randomBytes(4).toString('hex')}`,
      email: `del-${randomBytes(4).toString('hex')}@example.com`,
      name: 'Del',
      groups: [],
      active: true,
      verified: true,
      createdAt: clock.now(),
      lastLoginAt: null,
    });
    const record = recordFor(user.id, clock);
    expect(await store.createPasskey(record)).toBe(true);
    expect(await store.setPendingTotp(user.id, 'sealed')).toBe(true);
    await peer.deleteUser(user.id);
    expect(await store.getPasskey(record.id)).toBeNull();
    expect(await store.listUserPasskeys(user.id)).toEqual([]);
    expect((await store.getSecondFactors(user.id))?.totp ?? null).toBeNull();
    expect(await store.createPasskey({ ...record, userId: 'u-new' })).toBe(true);
  });

  it('knows nothing of an unknown credential', async () => {
    const { store, clock } = await kind.open();
    await store.createPasskey(recordFor('u1', clock));
    expect(await store.getPasskey('nope')).toBeNull();
    expect(await store.updatePasskeyCounter('nope', 5, true, clock.now())).toBe(false);
    expect(await store.renamePasskey('nope', 'u1', 'x')).toBe(false);
    expect(await store.removePasskey('nope')).toBeNull();
    expect(await store.getPasskey('nope')).toBeNull();
  });

  it("refuses a credential ID that exists, the same user's or another's, and keeps the first", async () => {
    const { store, peer, clock } = await kind.open();
    const first = recordFor('alice', clock);
    expect(await store.createPasskey(first)).toBe(true);
    const stolen = recordFor('mallory', clock, { id: first.id, name: 'mine now' });
    expect(await peer.createPasskey(stolen)).toBe(false);
    expect(await store.createPasskey({ ...first, name: 'again' })).toBe(false);
    expect(await store.getPasskey(first.id)).toEqual(first);
    expect(await peer.listUserPasskeys('mallory')).toEqual([]);
    expect(await peer.listUserPasskeys('alice')).toEqual([first]);
    // Mallory's refused attempt left nothing that a removal of her passkeys could use.
    expect(await store.removeUserPasskeys('mallory')).toEqual([]);
    expect(await store.getPasskey(first.id)).toEqual(first);
  });

  it('of racing creations of one credential ID exactly one wins', async () => {
    const { store, peer, clock } = await kind.open();
    const id = randomBytes(16).toString('base64url');
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map((user, i) =>
        (i % 2 ? peer : store).createPasskey(recordFor(user, clock, { id })),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const owner = (await store.getPasskey(id))?.userId as string;
    for (const user of ['a', 'b', 'c', 'd'])
      expect((await peer.listUserPasskeys(user)).map((p) => p.id)).toEqual(
        user === owner ? [id] : [],
      );
  });

  it("lists a user's credentials oldest first, nobody else's", async () => {
    const { store, peer, clock } = await kind.open();
    const a = recordFor('u1', clock);
    clock.advance(1000);
    const b = recordFor('u1', clock);
    clock.advance(1000);
    const c = recordFor('u1', clock);
    for (const r of [c, a, b]) await store.createPasskey(r);
    await store.createPasskey(recordFor('u2', clock));
    expect((await peer.listUserPasskeys('u1')).map((r) => r.id)).toEqual([a.id, b.id, c.id]);
    expect(await peer.listUserPasskeys('nobody')).toEqual([]);
  });

  it('raises the counter only: equal or lower is refused, 0 after 0 is accepted', async () => {
    const { store, peer, clock } = await kind.open();
    const counting = recordFor('u1', clock, { counter: 10 });
    await store.createPasskey(counting);
    expect(await peer.updatePasskeyCounter(counting.id, 10, true, clock.now())).toBe(false);
    expect(await peer.updatePasskeyCounter(counting.id, 9, true, clock.now())).toBe(false);
    expect(await peer.updatePasskeyCounter(counting.id, 0, true, clock.now())).toBe(false);
    expect((await store.getPasskey(counting.id))?.lastUsedAt).toBeNull();
    expect(await peer.updatePasskeyCounter(counting.id, 11, false, clock.now() + 7)).toBe(true);
    expect(await store.getPasskey(counting.id)).toEqual({
      ...counting,
      counter: 11,
      backedUp: false,
      lastUsedAt: clock.now() + 7,
    });
    expect(await peer.updatePasskeyCounter(counting.id, 4_294_967_295, true, clock.now())).toBe(
      true,
    );
    expect((await store.getPasskey(counting.id))?.counter).toBe(4_294_967_295);

    const counterless = recordFor('u1', clock, { counter: 0 });
    await store.createPasskey(counterless);
    expect(await peer.updatePasskeyCounter(counterless.id, 0, true, clock.now() + 1)).toBe(true);
    expect(await peer.updatePasskeyCounter(counterless.id, 0, true, clock.now() + 2)).toBe(true);
    expect((await store.getPasskey(counterless.id))?.lastUsedAt).toBe(clock.now() + 2);
  });

  it('of racing updates with the same counter exactly one wins', async () => {
    const { store, peer, clock } = await kind.open();
    const record = recordFor('u1', clock, { counter: 5 });
    await store.createPasskey(record);
    const results = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) =>
        (i % 2 ? peer : store).updatePasskeyCounter(record.id, 6, true, clock.now()),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('lastUsedAt never moves back', async () => {
    const { store, clock } = await kind.open();
    const record = recordFor('u1', clock);
    await store.createPasskey(record);
    await store.updatePasskeyCounter(record.id, 2, true, clock.now() + 100);
    await store.updatePasskeyCounter(record.id, 3, true, clock.now() + 50);
    expect(await store.getPasskey(record.id)).toMatchObject({
      counter: 3,
      lastUsedAt: clock.now() + 100,
    });
  });

  it('renames and removes only for the owner; an admin removal takes any', async () => {
    const { store, peer, clock } = await kind.open();
    const record = recordFor('alice', clock);
    await store.createPasskey(record);
    expect(await peer.renamePasskey(record.id, 'mallory', 'pwned')).toBe(false);
    expect(await peer.removePasskey(record.id, 'mallory')).toBeNull();
    expect(await store.getPasskey(record.id)).toEqual(record);
    expect(await peer.renamePasskey(record.id, 'alice', 'Phone')).toBe(true);
    expect((await store.getPasskey(record.id))?.name).toBe('Phone');
    expect(await peer.removePasskey(record.id)).toEqual({ ...record, name: 'Phone' });
    expect(await store.getPasskey(record.id)).toBeNull();
    expect(await store.removePasskey(record.id)).toBeNull();
    expect(await store.listUserPasskeys('alice')).toEqual([]);
  });

  it('removes every credential of one user and nobody else', async () => {
    const { store, peer, clock } = await kind.open();
    const mine = [recordFor('u1', clock), recordFor('u1', clock), recordFor('u1', clock)];
    const theirs = recordFor('u2', clock);
    for (const r of [...mine, theirs]) await store.createPasskey(r);
    const removed = await peer.removeUserPasskeys('u1');
    expect(removed.map((r) => r.id).sort()).toEqual(mine.map((r) => r.id).sort());
    for (const r of mine) expect(await store.getPasskey(r.id)).toBeNull();
    expect(await store.getPasskey(theirs.id)).toEqual(theirs);
    expect(await store.listUserPasskeys('u1')).toEqual([]);
    expect(await peer.removeUserPasskeys('u1')).toEqual([]);
    // A removed credential ID may be registered again (by anyone): it no longer exists.
    expect(await store.createPasskey({ ...(mine[0] as PasskeyRecord), userId: 'u3' })).toBe(true);
  });

  it('returns copies: changing what it gave back changes nothing stored', async () => {
    const { store, clock } = await kind.open();
    const record = recordFor('u1', clock);
    await store.createPasskey(record);
    const got = (await store.getPasskey(record.id)) as PasskeyRecord;
    got.counter = 99;
    got.transports.push('usb');
    record.name = 'changed after create';
    expect((await store.getPasskey(record.id))?.counter).toBe(0);
    expect((await store.getPasskey(record.id))?.transports).toEqual(['internal', 'hybrid']);
    expect((await store.getPasskey(record.id))?.name).toBe('Firefox on Linux');
  });

  it('hands out a challenge once, to exactly one of racing takers', async () => {
    const { store, peer, clock } = await kind.open();
    const challenge = {
      challenge: 'c1',
      kind: 'register' as const,
      userId: 'u1',
      expiresAt: clock.now() + 300_000,
    };
    await store.putPasskeyChallenge('k1', challenge);
    const results = await Promise.all([
      store.takePasskeyChallenge('k1'),
      peer.takePasskeyChallenge('k1'),
      store.takePasskeyChallenge('k1'),
      peer.takePasskeyChallenge('k1'),
    ]);
    expect(results.filter((r) => r !== null)).toEqual([challenge]);
    expect(await store.takePasskeyChallenge('k1')).toBeNull();
    expect(await store.takePasskeyChallenge('unknown')).toBeNull();
  });

  it('refuses an expired challenge (by the injected clock)', async () => {
    const { store, peer, clock } = await kind.open();
    await store.putPasskeyChallenge('k2', {
      challenge: 'c2',
      kind: 'login',
      userId: null,
      expiresAt: clock.now() + 300_000,
    });
    await store.putPasskeyChallenge('k3', {
      challenge: 'c3',
      kind: 'login',
      userId: null,
      expiresAt: clock.now() + 300_000,
    });
    clock.advance(299_999);
    expect((await peer.takePasskeyChallenge('k2'))?.challenge).toBe('c2');
    clock.advance(1);
    expect(await peer.takePasskeyChallenge('k3')).toBeNull();
  });

  it('runs the whole lifecycle', async () => {
    const { store, peer, clock } = await kind.open();
    await lifecycle(store, peer, clock);
  });
});

describe('Redis passkey keys', () => {
  const redis = redisKeysFixture(kinds);

  it('credentials persist; challenges expire on their own; nothing else is written', async () => {
    const { store, clock, prefix, server } = await redis.open('pkkeys');
    const record = recordFor('u1', clock);
    await store.createPasskey(record);
    await store.createPasskey(recordFor('u2', clock, { id: record.id }));
    await store.putPasskeyChallenge('h1', {
      challenge: 'c',
      kind: 'login',
      userId: null,
      expiresAt: clock.now() + 300_000,
    });
    await withRawRedis(server, async (raw) => {
      const keys = (await raw.keys(`${prefix}*`)).sort();
      expect(keys).toEqual(
        [`${prefix}pk:${record.id}`, `${prefix}pkc:h1`, `${prefix}upk:u1`].sort(),
      );
      expect(await raw.pttl(`${prefix}pk:${record.id}`)).toBe(-1);
      const ttl = await raw.pttl(`${prefix}pkc:h1`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300_000);
    });
  });
});

describe('passkeys on a Redis Cluster', () => {
  it('runs the whole lifecycle without CROSSSLOT errors', async () => {
    await onRedisCluster('pkcluster', async ({ store, peer, clock }) => {
      for (let i = 0; i < 5; i++) await lifecycle(store, peer, clock);
      const records = [recordFor('u-many', clock), recordFor('u-many', clock)];
      for (const record of records) await store.createPasskey(record);
      expect(await peer.listUserPasskeys('u-many')).toHaveLength(2);
      expect(await peer.removeUserPasskeys('u-many')).toHaveLength(2);
    });
  }, 60_000);
});
