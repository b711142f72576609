import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { ManualClock } from '../../src/core/clock.js';
import {
  AUDIT_KEEP,
  type AuditEntry,
  EmailTakenError,
  type Store,
  type TokenRecord,
  type UserInput,
} from '../../src/ports/store.js';
import { waitFor } from '../helpers/ports.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { OpenStores, sessionMaker, storeKinds } from '../helpers/store-kinds.js';

/**
 * One conformance suite for every store (STYLE §3). Time is a ManualClock, so expiry is tested
 * by moving the clock, never by sleeping. "peer" is a second handle on the same shared state:
 * the same object for memory, a second RedisStore (own connections) on the same server and key
 * prefix for Redis — what another portcullis instance would hold.
 */
const kinds = storeKinds('contract');

let counter = 0;
const sessionFor = sessionMaker('sess');

function userNamed(email: string, name: string, clock: ManualClock): UserInput {
  counter += 1;
  return {
    id: `user-${counter}-${randomBytes(4).toString('hex')}`,
    email,
    name,
    groups: ['staff'],
    active: true,
    verified: false,
    createdAt: clock.now(),
    lastLoginAt: null,
  };
}

function tokenRecord(clock: ManualClock, ttl = 15 * 60_000): TokenRecord {
  return {
    email: 'zoe@example.com',
    rd: '/next',
    expiresAt: clock.now() + ttl,
    purpose: 'magic_link',
  };
}

function collectRevocations(store: Store): string[] {
  const seen: string[] = [];
  store.onSessionRevoked((id) => seen.push(id));
  return seen;
}

describe.each(kinds)('$name store contract', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(() => kind.closeOpened());

  describe('sessions', () => {
    it('stores and returns a session; unknown ids are null', async () => {
      const { store, peer, clock } = await kind.open();
      const session = sessionFor('u1', clock);
      await store.createSession(session);
      expect(await store.getSession(session.id)).toEqual(session);
      expect(await peer.getSession(session.id)).toEqual(session);
      expect(await store.getSession('no-such-session')).toBeNull();
    });

    it('stops returning a session once the clock passes its expiry', async () => {
      const { store, clock } = await kind.open();
      const session = sessionFor('u1', clock);
      await store.createSession(session);
      clock.advance(59_999);
      expect(await store.getSession(session.id)).not.toBeNull();
      clock.advance(1);
      expect(await store.getSession(session.id)).toBeNull();
      expect(await store.listUserSessions('u1')).toEqual([]);
    });

    it('touch moves lastSeenAt forward only and never revives a deleted session', async () => {
      const { store, clock } = await kind.open();
      const session = sessionFor('u1', clock);
      await store.createSession(session);
      await store.touchSession(session.id, session.lastSeenAt + 5000);
      expect((await store.getSession(session.id))?.lastSeenAt).toBe(session.lastSeenAt + 5000);
      await store.touchSession(session.id, session.lastSeenAt + 1000);
      expect((await store.getSession(session.id))?.lastSeenAt).toBe(session.lastSeenAt + 5000);
      await store.deleteSession(session.id);
      await store.touchSession(session.id, session.lastSeenAt + 9000);
      expect(await store.getSession(session.id)).toBeNull();
    });

    it("indexes sessions per user, newest first, and lists only that user's", async () => {
      const { store, peer, clock } = await kind.open();
      const first = sessionFor('alice', clock);
      await store.createSession(first);
      clock.advance(1000);
      const second = sessionFor('alice', clock);
      await store.createSession(second);
      const other = sessionFor('bob', clock);
      await store.createSession(other);
      expect((await peer.listUserSessions('alice')).map((s) => s.id)).toEqual([
        second.id,
        first.id,
      ]);
      expect((await store.listUserSessions('bob')).map((s) => s.id)).toEqual([other.id]);
      expect(await store.listUserSessions('nobody')).toEqual([]);
    });

    it('deletes one session, drops it from the index and announces it to every instance', async () => {
      const { store, peer, clock } = await kind.open();
      const seen = collectRevocations(peer);
      const keep = sessionFor('alice', clock);
      const gone = sessionFor('alice', clock);
      await store.createSession(keep);
      await store.createSession(gone);
      await store.deleteSession(gone.id);
      expect(await peer.getSession(gone.id)).toBeNull();
      expect((await store.listUserSessions('alice')).map((s) => s.id)).toEqual([keep.id]);
      await waitFor(() => seen.includes(gone.id), 5000, 'revocation event');
      expect(seen).not.toContain(keep.id);
    });

    it("deletes all of a user's sessions, returns their ids and announces each", async () => {
      const { store, peer, clock } = await kind.open();
      const seen = collectRevocations(peer);
      const mine = [
        sessionFor('alice', clock),
        sessionFor('alice', clock),
        sessionFor('alice', clock),
      ];
      const theirs = sessionFor('bob', clock);
      for (const s of [...mine, theirs]) await store.createSession(s);
      const ended = await store.deleteUserSessions('alice');
      expect([...ended].sort()).toEqual(mine.map((s) => s.id).sort());
      for (const s of mine) expect(await peer.getSession(s.id)).toBeNull();
      expect(await store.listUserSessions('alice')).toEqual([]);
      expect(await store.getSession(theirs.id)).toEqual(theirs);
      await waitFor(() => mine.every((s) => seen.includes(s.id)), 5000, 'revocation events');
      expect(seen).not.toContain(theirs.id);
      expect(await store.deleteUserSessions('alice')).toEqual([]);
    });
  });

  describe('one-time tokens', () => {
    it('gives a token back exactly once', async () => {
      const { store, peer, clock } = await kind.open();
      const record = tokenRecord(clock);
      await store.putToken('hash-1', record);
      expect(await peer.consumeToken('hash-1')).toEqual(record);
      expect(await store.consumeToken('hash-1')).toBeNull();
      expect(await store.consumeToken('never-issued')).toBeNull();
    });

    it('refuses a token once the clock passes its expiry', async () => {
      const { store, clock } = await kind.open();
      await store.putToken('hash-live', tokenRecord(clock, 10_000));
      await store.putToken('hash-dead', tokenRecord(clock, 10_000));
      clock.advance(9_999);
      expect(await store.consumeToken('hash-live')).not.toBeNull();
      clock.advance(1);
      expect(await store.consumeToken('hash-dead')).toBeNull();
    });

    it('lets exactly one of two racing consumers win, on every token', async () => {
      const { store, peer, clock } = await kind.open();
      const hashes = Array.from({ length: 40 }, (_, i) => `race-${i}`);
      for (const hash of hashes) await store.putToken(hash, tokenRecord(clock));
      const results = await Promise.all(
        hashes.map((hash) => Promise.all([store.consumeToken(hash), peer.consumeToken(hash)])),
      );
      for (const pair of results) expect(pair.filter((r) => r !== null)).toHaveLength(1);
    });

    it('markUsed is true only for the first caller until the mark expires', async () => {
      const { store, peer, clock } = await kind.open();
      const until = clock.now() + 30_000;
      expect(await store.markUsed('link:a', until)).toBe(true);
      expect(await store.markUsed('link:a', until)).toBe(false);
      expect(await peer.markUsed('link:a', until)).toBe(false);
      expect(await peer.markUsed('link:b', until)).toBe(true);
      clock.advance(30_000);
      expect(await store.markUsed('link:a', clock.now() + 30_000)).toBe(true);
    });

    it('markUsed lets exactly one of two racing callers win', async () => {
      const { store, peer, clock } = await kind.open();
      const until = clock.now() + 30_000;
      const keys = Array.from({ length: 40 }, (_, i) => `link:race-${i}`);
      const results = await Promise.all(
        keys.map((key) => Promise.all([store.markUsed(key, until), peer.markUsed(key, until)])),
      );
      for (const pair of results) expect(pair.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('users', () => {
    it('creates a user with a lower-cased email and finds it case-insensitively', async () => {
      const { store, peer, clock } = await kind.open();
      const created = await store.createUser(userNamed('Zoe@Example.COM', 'Zoe', clock));
      expect(created.email).toBe('zoe@example.com');
      expect(await peer.getUser(created.id)).toEqual(created);
      expect((await peer.getUserByEmail('ZOE@example.com'))?.id).toBe(created.id);
      expect(await store.getUserByEmail('nobody@example.com')).toBeNull();
      expect(await store.getUser('no-such-id')).toBeNull();
    });

    it('returns the existing user when the email is taken, in any case', async () => {
      const { store, peer, clock } = await kind.open();
      const first = await store.createUser(userNamed('zoe@example.com', 'Zoe', clock));
      const again = await peer.createUser(userNamed('ZOE@EXAMPLE.com', 'Impostor', clock));
      expect(again).toEqual(first);
      expect((await store.listUsers({ offset: 0, limit: 10 })).total).toBe(1);
    });

    it('two instances creating the same email at once end up with one user', async () => {
      const { store, peer, clock } = await kind.open();
      const emails = Array.from({ length: 10 }, (_, i) => `racer${i}@example.com`);
      const pairs = await Promise.all(
        emails.map((email) =>
          Promise.all([
            store.createUser(userNamed(email, 'A', clock)),
            peer.createUser(userNamed(email, 'B', clock)),
          ]),
        ),
      );
      for (const [a, b] of pairs) expect(a?.id).toBe(b?.id);
      const listed = await store.listUsers({ offset: 0, limit: 100 });
      expect(listed.total).toBe(emails.length);
      for (const [a] of pairs) expect((await store.getUserByEmail(a?.email ?? ''))?.id).toBe(a?.id);
    });

    it('keeps the email index in step when a user changes email', async () => {
      const { store, peer, clock } = await kind.open();
      const user = await store.createUser(userNamed('old@example.com', 'Olga', clock));
      await store.updateUser({ ...user, email: 'New@Example.com', name: 'Olga N' });
      const found = await peer.getUserByEmail('new@example.com');
      expect(found).toMatchObject({ id: user.id, email: 'new@example.com', name: 'Olga N' });
      expect(await peer.getUserByEmail('old@example.com')).toBeNull();
      // The old address is free again.
      const other = await store.createUser(userNamed('old@example.com', 'Other', clock));
      expect(other.id).not.toBe(user.id);
      const list = await store.listUsers({ offset: 0, limit: 10 });
      expect(list.users.map((u) => u.email)).toEqual(['new@example.com', 'old@example.com']);
      expect(list.total).toBe(2);
    });

    it("refuses to move a user onto another user's email", async () => {
      const { store, clock } = await kind.open();
      const ann = await store.createUser(userNamed('ann@example.com', 'Ann', clock));
      const bob = await store.createUser(userNamed('bob@example.com', 'Bob', clock));
      await expect(store.updateUser({ ...bob, email: 'ANN@example.com' })).rejects.toBeInstanceOf(
        EmailTakenError,
      );
      expect((await store.getUserByEmail('ann@example.com'))?.id).toBe(ann.id);
      expect((await store.getUserByEmail('bob@example.com'))?.id).toBe(bob.id);
      // An update that keeps the email, or changes other fields, still works.
      await store.updateUser({ ...bob, active: false });
      expect((await store.getUser(bob.id))?.active).toBe(false);
    });

    it('lists users by email with search and pagination', async () => {
      const { store, peer, clock } = await kind.open();
      const people = [
        ['carol@example.com', 'Carol Danvers'],
        ['alice@example.com', 'Alice Liddell'],
        ['eve@other.org', 'Eve Moneypenny'],
        ['bob@example.com', 'Bob Builder'],
        ['dave@other.org', 'Dave Lister'],
        ['frank@example.com', 'Frank Castle'],
        ['grace@other.org', 'Grace Hopper'],
      ] as const;
      for (const [email, name] of people) await store.createUser(userNamed(email, name, clock));
      const sorted = people.map(([email]) => email).sort();
      const first = await peer.listUsers({ offset: 0, limit: 3 });
      expect(first.total).toBe(7);
      expect(first.users.map((u) => u.email)).toEqual(sorted.slice(0, 3));
      const last = await peer.listUsers({ offset: 6, limit: 3 });
      expect(last.users.map((u) => u.email)).toEqual(sorted.slice(6));
      expect((await peer.listUsers({ offset: 10, limit: 3 })).users).toEqual([]);
      const byDomain = await store.listUsers({ search: 'OTHER.org', offset: 0, limit: 2 });
      expect(byDomain.total).toBe(3);
      expect(byDomain.users.map((u) => u.email)).toEqual(['dave@other.org', 'eve@other.org']);
      const byDomainNext = await store.listUsers({ search: 'other.org', offset: 2, limit: 2 });
      expect(byDomainNext.users.map((u) => u.email)).toEqual(['grace@other.org']);
      const byName = await store.listUsers({ search: 'hopper', offset: 0, limit: 10 });
      expect(byName.users.map((u) => u.name)).toEqual(['Grace Hopper']);
      expect((await store.listUsers({ search: 'zzz', offset: 0, limit: 10 })).total).toBe(0);
    });
  });

  describe('link floors', () => {
    it('hands out stamps above the floor, strictly increasing within one millisecond', async () => {
      const { store, peer, clock } = await kind.open();
      const now = clock.now();
      expect(await store.getLinkFloor('zoe@example.com')).toBe(0);
      expect(await store.nextLinkStamp('zoe@example.com', now, 60_000)).toBe(now);
      expect(await peer.nextLinkStamp('Zoe@Example.com', now, 60_000)).toBe(now + 1);
      expect(await store.nextLinkStamp('zoe@example.com', now, 60_000)).toBe(now + 2);
      expect(await peer.getLinkFloor('ZOE@example.com')).toBe(now + 2);
      expect(await store.getLinkFloor('other@example.com')).toBe(0);
      clock.advance(5_000);
      expect(await store.nextLinkStamp('zoe@example.com', clock.now(), 60_000)).toBe(clock.now());
    });

    it('raiseLinkFloor only ever moves the floor up', async () => {
      const { store, peer, clock } = await kind.open();
      const now = clock.now();
      await store.raiseLinkFloor('amy@example.com', now + 10, 60_000);
      expect(await peer.getLinkFloor('amy@example.com')).toBe(now + 10);
      await peer.raiseLinkFloor('amy@example.com', now + 3, 60_000);
      expect(await store.getLinkFloor('amy@example.com')).toBe(now + 10);
      expect(await store.nextLinkStamp('amy@example.com', now, 60_000)).toBe(now + 11);
    });

    it('two instances taking stamps at once never get the same one', async () => {
      const { store, peer, clock } = await kind.open();
      const now = clock.now();
      const stamps = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? peer : store).nextLinkStamp('race@example.com', now, 60_000),
        ),
      );
      expect(new Set(stamps).size).toBe(20);
      expect(await store.getLinkFloor('race@example.com')).toBe(Math.max(...stamps));
    });

    it('deactivation, creation as inactive and deletion move the floor past this millisecond', async () => {
      const { store, peer, clock } = await kind.open();
      const now = clock.now();
      const user = await store.createUser(userNamed('Dee@Example.com', 'Dee', clock));
      const stamp = await store.nextLinkStamp('dee@example.com', now, 60_000);
      await store.updateUser({ ...user, name: 'Dee D' });
      expect(await store.getLinkFloor('dee@example.com')).toBe(stamp);
      await peer.updateUser({ ...user, active: false });
      const floor = await store.getLinkFloor('dee@example.com');
      expect(floor).toBeGreaterThan(stamp);
      expect(floor).toBeGreaterThan(now);
      // Re-activation never brings the older links back.
      await store.updateUser({ ...user, active: true });
      expect(await store.getLinkFloor('dee@example.com')).toBe(floor);
      // Deactivating while moving the email voids the links of both addresses.
      await store.updateUser({ ...user, email: 'dee2@example.com', active: false });
      expect(await store.getLinkFloor('dee@example.com')).toBeGreaterThan(floor);
      expect(await store.getLinkFloor('dee2@example.com')).toBeGreaterThan(now);

      await store.createUser({ ...userNamed('ina@example.com', 'Ina', clock), active: false });
      expect(await peer.getLinkFloor('ina@example.com')).toBeGreaterThan(now);
      const kept = await store.createUser(userNamed('kay@example.com', 'Kay', clock));
      expect(await store.getLinkFloor('kay@example.com')).toBe(0);
      await peer.deleteUser(kept.id);
      expect(await store.getLinkFloor('kay@example.com')).toBeGreaterThan(now);
    });
  });

  describe('audit trail', () => {
    const entry = (at: number, event: string): AuditEntry => ({
      at,
      event,
      outcome: event.endsWith('failed') ? 'failure' : 'success',
      actor: 'ann@example.com',
      ip: '203.0.113.9',
      requestId: `req-${at}`,
      detail: { method: 'magic_link', sessions: 1, first: at === 0 },
    });

    it("lists a user's entries newest first, up to the limit, on every instance", async () => {
      const { store, peer } = await kind.open();
      await store.appendAudit('u-a', entry(1, 'auth.login'));
      await peer.appendAudit('u-a', entry(2, 'auth.login_failed'));
      await store.appendAudit('u-b', entry(3, 'session.ended'));
      expect(await peer.listAudit('u-a', 10)).toEqual([
        entry(2, 'auth.login_failed'),
        entry(1, 'auth.login'),
      ]);
      expect(await store.listAudit('u-a', 1)).toEqual([entry(2, 'auth.login_failed')]);
      expect(await store.listAudit('u-a', 0)).toEqual([]);
      expect(await store.listAudit('u-b', 10)).toEqual([entry(3, 'session.ended')]);
      expect(await store.listAudit('nobody', 10)).toEqual([]);
    });

    it(`keeps only the newest ${AUDIT_KEEP} entries per user`, async () => {
      const { store } = await kind.open();
      for (let i = 0; i < AUDIT_KEEP + 5; i += 1) await store.appendAudit('u-c', entry(i, 'e'));
      const kept = await store.listAudit('u-c', AUDIT_KEEP * 2);
      expect(kept).toHaveLength(AUDIT_KEEP);
      expect(kept[0]?.at).toBe(AUDIT_KEEP + 4);
      expect(kept.at(-1)?.at).toBe(5);
    });

    it('removes the trail with the user', async () => {
      const { store, peer, clock } = await kind.open();
      const user = await store.createUser(userNamed('trail@example.com', 'Trail', clock));
      await store.appendAudit(user.id, entry(1, 'auth.login'));
      await peer.deleteUser(user.id);
      expect(await store.listAudit(user.id, 10)).toEqual([]);
    });
  });

  describe('counters', () => {
    it('counts hits in a fixed window that starts at the first hit', async () => {
      const { store, peer, clock } = await kind.open();
      expect(await store.hit('login:1.2.3.4', 60_000)).toBe(1);
      clock.advance(30_000);
      expect(await peer.hit('login:1.2.3.4', 60_000)).toBe(2);
      expect(await store.hit('login:5.6.7.8', 60_000)).toBe(1);
      clock.advance(29_999);
      expect(await store.hit('login:1.2.3.4', 60_000)).toBe(3);
      clock.advance(1);
      expect(await store.hit('login:1.2.3.4', 60_000)).toBe(1);
      expect(await store.hit('login:5.6.7.8', 60_000)).toBe(2);
    });
  });

  describe('health', () => {
    it('answers ping', async () => {
      const { store } = await kind.open();
      await expect(store.ping()).resolves.toBeUndefined();
      expect(store.kind).toBe(kind.name);
    });
  });
});

/** Only Redis can go away; this part has a redis-server of its own so it can be killed. */
describe('redis store availability', () => {
  let server: RedisServer;
  const opened = new OpenStores();
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await opened.closeAll();
    await server.stop();
  });

  it('reports the server going away and coming back, and resubscribes to revocations', async () => {
    const clock = new ManualClock();
    const prefix = `avail:${randomBytes(6).toString('hex')}:`;
    const store = await opened.redis(server, prefix, clock);
    const peer = await opened.redis(server, prefix, clock);
    const events: boolean[] = [];
    store.onAvailability((up) => events.push(up));
    const seen = collectRevocations(peer);

    await server.kill();
    await waitFor(() => events.includes(false), 5000, 'availability false');
    await expect(store.ping()).rejects.toThrow();
    await expect(store.getSession('anything')).rejects.toThrow();
    expect(events.at(-1)).toBe(false);

    await server.restart();
    await waitFor(() => events.at(-1) === true, 10_000, 'availability true');
    await expect(store.ping()).resolves.toBeUndefined();
    await peer.waitUntilReady(10_000);

    // The peer's subscription survived the restart: revocations reach it again.
    const session = sessionFor('alice', clock);
    await store.createSession(session);
    await store.deleteSession(session.id);
    await waitFor(() => seen.includes(session.id), 5000, 'revocation after restart');
  });

  it('rejects commands at once while the server is down instead of queueing them', async () => {
    const clock = new ManualClock();
    const store = await opened.redis(server, `down:${randomBytes(6).toString('hex')}:`, clock);
    const events: boolean[] = [];
    store.onAvailability((up) => events.push(up));
    await server.kill();
    await waitFor(() => events.includes(false), 5000, 'availability false');
    const started = Date.now();
    await expect(store.getSession('x')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(500);
    await server.restart();
    await store.waitUntilReady(10_000);
    expect(await store.getSession('x')).toBeNull();
  });

  it('a store opened while the server is down becomes ready when it comes up', async () => {
    await server.kill();
    const clock = new ManualClock();
    const store = new RedisStore({
      url: server.url,
      sentinel: null,
      cluster: null,
      keyPrefix: `late:${randomBytes(6).toString('hex')}:`,
      clock,
    });
    opened.add(store);
    const events: boolean[] = [];
    store.onAvailability((up) => events.push(up));
    await expect(store.waitUntilReady(300)).rejects.toThrow();
    await expect(store.ping()).rejects.toThrow();
    await server.restart();
    await store.waitUntilReady(10_000);
    expect(events.at(-1)).toBe(true);
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
