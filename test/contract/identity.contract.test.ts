import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityLink, Store } from '../../src/ports/store.js';
import { OpenStores, storeKinds } from '../helpers/store-kinds.js';

/**
 * Identity links (issuer + sub → user), one suite for every store. "peer" is what another
 * instance holds: the same object for memory, a second RedisStore on the same server for Redis.
 */
const kinds = storeKinds('identity');
const [, redisKind] = kinds;

beforeAll(async () => {
  for (const kind of kinds) await kind.setup();
});

afterAll(async () => {
  for (const kind of kinds) await kind.teardown();
});

const ISSUER = 'https://idp.example.com/realms/main';

function link(overrides: Partial<IdentityLink> = {}): IdentityLink {
  return {
    issuer: ISSUER,
    subject: 'f1c2a9e0-0001',
    userId: 'user-1',
    groups: ['engineering'],
    linkedAt: 1_700_000_000_000,
    lastLoginAt: 1_700_000_000_000,
    ...overrides,
  };
}

describe.each(kinds)('identity links ($name store)', (kind) => {
  let store: Store;
  let peer: Store;
  beforeAll(async () => {
    ({ store, peer } = await kind.open());
  });

  it('knows nothing about an identity that was never linked', async () => {
    expect(await store.getIdentity(ISSUER, 'nobody')).toBeNull();
  });

  it('stores a link and gives it back, to this and to another instance', async () => {
    const stored = await store.linkIdentity(link({ subject: 'sub-a', userId: 'u-a' }));
    expect(stored).toEqual(link({ subject: 'sub-a', userId: 'u-a' }));
    expect(await store.getIdentity(ISSUER, 'sub-a')).toEqual(stored);
    expect(await peer.getIdentity(ISSUER, 'sub-a')).toEqual(stored);
  });

  it('never moves a linked identity to another user', async () => {
    await store.linkIdentity(link({ subject: 'sub-b', userId: 'u-first' }));
    const again = await peer.linkIdentity(link({ subject: 'sub-b', userId: 'u-second' }));
    expect(again.userId).toBe('u-first');
    expect((await store.getIdentity(ISSUER, 'sub-b'))?.userId).toBe('u-first');
  });

  it('lets exactly one of several concurrent links win, on every instance', async () => {
    const results = await Promise.all(
      ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((userId, index) =>
        (index % 2 ? peer : store).linkIdentity(link({ subject: 'sub-race', userId })),
      ),
    );
    const winners = new Set(results.map((r) => r.userId));
    expect(winners.size).toBe(1);
    const [winner] = [...winners];
    expect((await store.getIdentity(ISSUER, 'sub-race'))?.userId).toBe(winner);
  });

  it('keeps issuer and subject apart exactly: case, trailing slash and separators matter', async () => {
    await store.linkIdentity(link({ subject: 'Case', userId: 'upper' }));
    await store.linkIdentity(link({ subject: 'case', userId: 'lower' }));
    await store.linkIdentity(link({ issuer: `${ISSUER}/`, subject: 'case', userId: 'slash' }));
    await store.linkIdentity(link({ issuer: 'https://a', subject: 'b:c', userId: 'colon-in-sub' }));
    await store.linkIdentity(link({ issuer: 'https://a:b', subject: 'c', userId: 'colon-in-iss' }));
    await store.linkIdentity(link({ issuer: 'https://x', subject: 'ü / ✓ %41', userId: 'odd' }));
    expect((await peer.getIdentity(ISSUER, 'Case'))?.userId).toBe('upper');
    expect((await peer.getIdentity(ISSUER, 'case'))?.userId).toBe('lower');
    expect((await peer.getIdentity(`${ISSUER}/`, 'case'))?.userId).toBe('slash');
    expect((await peer.getIdentity('https://a', 'b:c'))?.userId).toBe('colon-in-sub');
    expect((await peer.getIdentity('https://a:b', 'c'))?.userId).toBe('colon-in-iss');
    expect((await peer.getIdentity('https://x', 'ü / ✓ %41'))?.userId).toBe('odd');
    expect(await peer.getIdentity('https://x', 'ü / ✓ A')).toBeNull();
  });

  it('updates the groups and last sign-in of a linked identity', async () => {
    const first = await store.linkIdentity(link({ subject: 'sub-u', userId: 'u-u' }));
    await peer.updateIdentity({
      ...first,
      groups: ['ops', 'admins'],
      lastLoginAt: first.lastLoginAt + 5,
    });
    expect(await store.getIdentity(ISSUER, 'sub-u')).toEqual({
      ...first,
      groups: ['ops', 'admins'],
      lastLoginAt: first.lastLoginAt + 5,
    });
  });

  it('does not create a link by updating one that does not exist', async () => {
    await store.updateIdentity(link({ subject: 'sub-ghost' }));
    expect(await peer.getIdentity(ISSUER, 'sub-ghost')).toBeNull();
  });

  it('unlinks, after which the identity can be linked to someone else', async () => {
    await store.linkIdentity(link({ subject: 'sub-x', userId: 'u-old' }));
    await peer.unlinkIdentity(ISSUER, 'sub-x');
    expect(await store.getIdentity(ISSUER, 'sub-x')).toBeNull();
    expect((await store.linkIdentity(link({ subject: 'sub-x', userId: 'u-new' }))).userId).toBe(
      'u-new',
    );
  });

  it("lists a user's identities, on every instance, and forgets unlinked ones", async () => {
    expect(await store.listUserIdentities('u-many')).toEqual([]);
    const a = await store.linkIdentity(link({ subject: 'many-a', userId: 'u-many' }));
    const b = await peer.linkIdentity(
      link({ issuer: 'https://other', subject: 'many-b', userId: 'u-many' }),
    );
    await store.linkIdentity(link({ subject: 'many-c', userId: 'u-someone-else' }));
    const bySubject = (links: IdentityLink[]) =>
      [...links].sort((x, y) => (x.subject < y.subject ? -1 : 1));
    expect(bySubject(await peer.listUserIdentities('u-many'))).toEqual([a, b]);
    await peer.unlinkIdentity(ISSUER, 'many-a');
    expect(await store.listUserIdentities('u-many')).toEqual([b]);
  });

  it('keeps listing a link after it is updated', async () => {
    const stored = await store.linkIdentity(link({ subject: 'legacy', userId: 'u-legacy' }));
    await peer.updateIdentity({ ...stored, lastLoginAt: stored.lastLoginAt + 1 });
    expect((await store.listUserIdentities('u-legacy')).map((l) => l.subject)).toEqual(['legacy']);
  });

  it("does not list a link another user won under this user's name", async () => {
    await store.linkIdentity(link({ subject: 'won', userId: 'u-winner' }));
    await peer.linkIdentity(link({ subject: 'won', userId: 'u-loser' }));
    expect(await store.listUserIdentities('u-loser')).toEqual([]);
    expect((await peer.listUserIdentities('u-winner')).map((l) => l.subject)).toEqual(['won']);
  });

  it('returns copies: changing a returned link does not change the stored one', async () => {
    const stored = await store.linkIdentity(link({ subject: 'sub-copy', groups: ['a'] }));
    stored.groups.push('mutated');
    const fetched = await store.getIdentity(ISSUER, 'sub-copy');
    expect(fetched?.groups).toEqual(['a']);
    fetched?.groups.push('again');
    expect((await store.getIdentity(ISSUER, 'sub-copy'))?.groups).toEqual(['a']);
  });
});

describe('identity links in Redis', () => {
  it('are separated by key prefix', async () => {
    const server = redisKind?.server();
    if (!server) throw new Error('redis not started');
    const stores = new OpenStores();
    const a = await stores.redis(server, `tenant-a-${Date.now()}:`);
    const b = await stores.redis(server, `tenant-b-${Date.now()}:`);
    await a.linkIdentity(link({ subject: 'shared-sub', userId: 'in-a' }));
    expect(await b.getIdentity(ISSUER, 'shared-sub')).toBeNull();
    expect((await b.linkIdentity(link({ subject: 'shared-sub', userId: 'in-b' }))).userId).toBe(
      'in-b',
    );
    expect((await a.getIdentity(ISSUER, 'shared-sub'))?.userId).toBe('in-a');
    await stores.closeAll();
  });
});
