import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { ManualClock } from '../../src/core/clock.js';
import { SessionTokens } from '../../src/core/session-token.js';
import type { User } from '../../src/ports/store.js';
import { type Lookup, SessionService } from '../../src/services/sessions.js';

/**
 * Refresh-ahead: a busy cookie's session is re-read in the background during the last quarter
 * of its cache entry's freshness, so no check waits for the store, and no answer rests on a
 * store read older than the cache TTL.
 */

const TTL = 1000;
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

async function setup() {
  const clock = new ManualClock();
  const store = new MemoryStore(clock);
  let failReads = false;
  let reads = 0;
  const getSession = store.getSession.bind(store);
  store.getSession = (id: string) => {
    reads += 1;
    return failReads ? Promise.reject(new Error('Connection is closed')) : getSession(id);
  };
  const tokens = await SessionTokens.create([Buffer.alloc(32, 7)]);
  const sessions = new SessionService(store, tokens, clock, {
    lifetimeMs: 86_400_000,
    idleTimeoutMs: null,
    cacheTtlMs: TTL,
    cacheMaxEntries: 100,
  });
  const user: User = await store.createUser({
    id: 'u1',
    email: 'a@example.com',
    name: 'A',
    groups: [],
    active: true,
    verified: true,
    createdAt: clock.now(),
    lastLoginAt: null,
  });
  const { cookie, session } = await sessions.create(user, {
    ip: '127.0.0.1',
    userAgent: 'test',
    method: 'magic_link',
  });
  return {
    clock,
    store,
    sessions,
    user,
    cookie,
    session,
    reads: () => reads,
    failReads: () => {
      failReads = true;
    },
  };
}

describe('SessionService refresh-ahead', () => {
  it('re-reads a busy session before its entry goes stale, answering from the cache meanwhile', async () => {
    const { clock, sessions, cookie, reads } = await setup();
    await sessions.resolve(cookie);
    expect(reads()).toBe(1);
    clock.advance(700);
    expect(sessions.peek(cookie)?.kind).toBe('valid');
    expect(reads()).toBe(1);
    clock.advance(100);
    // Last quarter: the cached answer is given at once and one re-read starts.
    expect(sessions.peek(cookie)?.kind).toBe('valid');
    expect(sessions.peek(cookie)?.kind).toBe('valid');
    await settle();
    expect(reads()).toBe(2);
    // Fresh again from the re-read (t=800), so still answered without the store at t=1500.
    clock.advance(700);
    expect(sessions.peek(cookie)?.kind).toBe('valid');
  });

  it('never answers from a store read older than the TTL, with steady traffic', async () => {
    const { clock, store, sessions, cookie, user } = await setup();
    const start = clock.now();
    let deactivatedAt = Number.POSITIVE_INFINITY;
    for (let t = 0; t <= 3000; t += 50) {
      if (t === 1250) {
        await store.updateUser({ ...user, active: false });
        deactivatedAt = clock.now();
      }
      const lookup: Lookup = sessions.peek(cookie) ?? (await sessions.resolve(cookie));
      if (clock.now() - deactivatedAt > TTL) expect(lookup.kind).toBe('invalid');
      await settle();
      clock.advance(50);
    }
    expect(clock.now() - start).toBeGreaterThan(3000);
    expect(sessions.peek(cookie)?.kind ?? 'gone').not.toBe('valid');
  });

  it('does not bring back a session revoked while its re-read was under way', async () => {
    const { clock, sessions, cookie, session } = await setup();
    await sessions.resolve(cookie);
    clock.advance(800);
    expect(sessions.peek(cookie)?.kind).toBe('valid');
    await sessions.revoke(session.id);
    await settle();
    expect(sessions.peek(cookie)).toBeUndefined();
    expect((await sessions.resolve(cookie)).kind).toBe('invalid');
  });

  it('drops the entry when the re-read fails, so the next check asks the store', async () => {
    const { clock, sessions, cookie, failReads } = await setup();
    await sessions.resolve(cookie);
    failReads();
    clock.advance(800);
    expect(sessions.peek(cookie)?.kind).toBe('valid');
    await settle();
    expect(sessions.peek(cookie)).toBeUndefined();
    await expect(sessions.resolve(cookie)).rejects.toThrow('Connection is closed');
  });
});

describe('SessionService cache key', () => {
  it('answers an entry only for the exact cookie, even when the ends match', async () => {
    const { sessions, cookie } = await setup();
    await sessions.resolve(cookie);
    // Same signature end, another header/payload: must never borrow the cached session.
    const forged = `x${cookie.slice(1)}`;
    const tampered = `${cookie.slice(0, 40)}A${cookie.slice(41)}`;
    for (const bad of [forged, tampered]) {
      expect(sessions.peek(bad)).toBeUndefined();
      expect((await sessions.resolve(bad)).kind).toBe('invalid');
    }
    expect(sessions.peek(cookie)?.kind).toBe('valid');
  });
});
