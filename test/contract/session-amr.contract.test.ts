import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { OpenStores, sessionMaker, storeKinds } from '../helpers/store-kinds.js';

/**
 * How a session was authenticated (`amr`) and the step-up that adds to it, one suite for every
 * store (STYLE §3). "peer" is what another instance holds: the same object for memory, a second
 * RedisStore on the same server and prefix for Redis. Time is a ManualClock.
 */
const kinds = storeKinds('amr');

const sessionFor = sessionMaker('amr');

describe.each(kinds)('$name store: session amr', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(() => kind.closeOpened());

  it('keeps the amr a session was created with, on every instance and in the user list', async () => {
    const { store, peer, clock } = await kind.open();
    const session = sessionFor('u1', clock, { method: 'basic', amr: ['pwd', 'otp'] });
    await store.createSession(session);
    expect((await peer.getSession(session.id))?.amr).toEqual(['pwd', 'otp']);
    expect((await peer.listUserSessions('u1')).map((s) => s.amr)).toEqual([['pwd', 'otp']]);
  });

  it('reads a session created without amr as []', async () => {
    const { store, clock } = await kind.open();
    const { amr: _omitted, ...bare } = sessionFor('u1', clock);
    await store.createSession(bare);
    expect((await store.getSession(bare.id))?.amr).toEqual([]);
  });

  it('adds step-up methods once each, keeps the order gained, and shows them to every instance', async () => {
    const { store, peer, clock } = await kind.open();
    const session = sessionFor('u1', clock);
    await store.createSession(session);
    expect(await store.addSessionAmr(session.id, ['passkey'])).toBe(true);
    expect(await peer.addSessionAmr(session.id, ['passkey', 'otp', 'link'])).toBe(true);
    expect((await peer.getSession(session.id))?.amr).toEqual(['link', 'passkey', 'otp']);
    expect(await store.addSessionAmr(session.id, [])).toBe(true);
    expect((await store.getSession(session.id))?.amr).toEqual(['link', 'passkey', 'otp']);
  });

  it('changes nothing else of the session: lastSeenAt, expiry and the rest stay', async () => {
    const { store, clock } = await kind.open();
    const session = sessionFor('u1', clock);
    await store.createSession(session);
    await store.touchSession(session.id, session.lastSeenAt + 700);
    await store.addSessionAmr(session.id, ['otp']);
    expect(await store.getSession(session.id)).toEqual({
      ...session,
      lastSeenAt: session.lastSeenAt + 700,
      amr: ['link', 'otp'],
    });
    clock.advance(60_000);
    expect(await store.getSession(session.id)).toBeNull();
  });

  it('keeps both of two racing step-ups', async () => {
    const { store, peer, clock } = await kind.open();
    const sessions = Array.from({ length: 20 }, () => sessionFor('u1', clock));
    for (const s of sessions) await store.createSession(s);
    await Promise.all(
      sessions.flatMap((s) => [
        store.addSessionAmr(s.id, ['passkey']),
        peer.addSessionAmr(s.id, ['otp']),
      ]),
    );
    for (const s of sessions) {
      const amr = (await store.getSession(s.id))?.amr ?? [];
      expect([...amr].sort()).toEqual(['link', 'otp', 'passkey']);
    }
  });

  it('never revives a deleted, unknown or expired session', async () => {
    const { store, peer, clock } = await kind.open();
    const gone = sessionFor('u1', clock);
    await store.createSession(gone);
    await store.deleteSession(gone.id);
    expect(await peer.addSessionAmr(gone.id, ['passkey'])).toBe(false);
    expect(await store.getSession(gone.id)).toBeNull();
    expect(await store.addSessionAmr('no-such-session', ['passkey'])).toBe(false);
    expect(await store.getSession('no-such-session')).toBeNull();
    const old = sessionFor('u1', clock);
    await store.createSession(old);
    clock.advance(60_000);
    expect(await store.addSessionAmr(old.id, ['passkey'])).toBe(false);
    expect(await store.getSession(old.id)).toBeNull();
    expect(await store.listUserSessions('u1')).toEqual([]);
  });

  it.each([
    ['a space', 'pass key'],
    ['nothing', ''],
    ['a newline', 'otp\n'],
    ['a very long name', 'x'.repeat(33)],
  ])('refuses a method name holding %s, and stores nothing', async (_label, name) => {
    const { store, clock } = await kind.open();
    const session = sessionFor('u1', clock);
    await store.createSession(session);
    await expect(store.addSessionAmr(session.id, ['otp', name])).rejects.toThrow(
      /authentication method/,
    );
    await expect(store.createSession(sessionFor('u1', clock, { amr: [name] }))).rejects.toThrow(
      /authentication method/,
    );
    expect((await store.getSession(session.id))?.amr).toEqual(['link']);
  });
});

describe('Redis session records from before amr existed', () => {
  const redisKind = storeKinds('amr-legacy').find((k) => k.name === 'redis');
  const stores = new OpenStores();

  beforeAll(async () => {
    await redisKind?.setup();
  });
  afterAll(async () => {
    await stores.closeAll();
    await redisKind?.teardown();
  });

  it('load with amr [] and can be stepped up', async () => {
    const server = redisKind?.server();
    if (!server) throw new Error('redis-server was not started');
    const prefix = `amrlegacy:${randomBytes(4).toString('hex')}:`;
    const clock = new ManualClock();
    const store = await stores.redis(server, prefix, clock);
    const raw = new Redis(server.url);
    try {
      // Exactly what the previous release wrote: `data` without amr, `lastSeenAt` apart.
      const now = clock.now();
      const data = {
        id: 'legacy-1',
        userId: 'u9',
        createdAt: now,
        expiresAt: now + 60_000,
        ip: '198.51.100.4',
        userAgent: 'old',
        method: 'magic_link',
      };
      await raw.hset(`${prefix}s:legacy-1`, 'data', JSON.stringify(data), 'lastSeenAt', now);
      await raw.pexpire(`${prefix}s:legacy-1`, 60_000);
      await raw.sadd(`${prefix}us:u9`, 'legacy-1');
      expect(await store.getSession('legacy-1')).toEqual({ ...data, lastSeenAt: now, amr: [] });
      expect((await store.listUserSessions('u9')).map((s) => s.amr)).toEqual([[]]);
      expect(await store.addSessionAmr('legacy-1', ['passkey'])).toBe(true);
      expect((await store.getSession('legacy-1'))?.amr).toEqual(['passkey']);
      // The step-up leaves `data` byte for byte as it was, and the key's TTL in place.
      expect(await raw.hget(`${prefix}s:legacy-1`, 'data')).toBe(JSON.stringify(data));
      expect(await raw.pttl(`${prefix}s:legacy-1`)).toBeGreaterThan(0);
    } finally {
      raw.disconnect();
    }
  });
});
