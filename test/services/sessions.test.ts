import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { ManualClock } from '../../src/core/clock.js';
import { SessionTokens } from '../../src/core/session-token.js';
import type { User } from '../../src/ports/store.js';
import { SessionService } from '../../src/services/sessions.js';

const SECRET = Buffer.alloc(32, 7);

async function setup(settings: Partial<{ idleTimeoutMs: number | null; lifetimeMs: number }> = {}) {
  const clock = new ManualClock();
  const store = new MemoryStore(clock);
  const tokens = await SessionTokens.create([SECRET]);
  const sessions = new SessionService(store, tokens, clock, {
    lifetimeMs: settings.lifetimeMs ?? 86_400_000,
    idleTimeoutMs: settings.idleTimeoutMs ?? null,
    cacheTtlMs: 1000,
    cacheMaxEntries: 3,
  });
  const user: User = await store.createUser({
    id: 'u1',
    email: 'a@example.com',
    name: 'A',
    groups: ['g'],
    active: true,
    verified: true,
    createdAt: clock.now(),
    lastLoginAt: null,
  });
  const meta = { ip: '127.0.0.1', userAgent: 'test', method: 'magic_link' };
  return { clock, store, sessions, user, meta, tokens };
}

describe('SessionService', () => {
  it('resolves a fresh cookie, then answers from the cache without the store', async () => {
    const { sessions, user, meta } = await setup();
    const { cookie } = await sessions.create(user, meta);
    expect(sessions.peek(cookie)).toBeUndefined();
    const lookup = await sessions.resolve(cookie);
    expect(lookup.kind).toBe('valid');
    expect(sessions.peek(cookie)?.kind).toBe('valid');
  });

  it('refuses a cookie once its session lifetime has passed, even from the cache', async () => {
    const { sessions, user, meta, clock } = await setup({ lifetimeMs: 60_000 });
    const { cookie } = await sessions.create(user, meta);
    await sessions.resolve(cookie);
    clock.advance(60_001);
    expect((await sessions.resolve(cookie)).kind).toBe('invalid');
  });

  it('ends a session after the idle timeout without requests', async () => {
    const { sessions, user, meta, clock } = await setup({ idleTimeoutMs: 10 * 60_000 });
    const { cookie } = await sessions.create(user, meta);
    clock.advance(5 * 60_000);
    expect((await sessions.resolve(cookie)).kind).toBe('valid');
    clock.advance(5 * 60_000 + 1);
    // Touched at the previous lookup: still within the idle window.
    expect((await sessions.resolve(cookie)).kind).toBe('valid');
    clock.advance(10 * 60_000 + 1);
    expect((await sessions.resolve(cookie)).kind).toBe('invalid');
  });

  it('forgets a revoked session at once, without waiting for the cache to expire', async () => {
    const { sessions, user, meta } = await setup();
    const { cookie, session } = await sessions.create(user, meta);
    await sessions.resolve(cookie);
    await sessions.revoke(session.id);
    expect(sessions.peek(cookie)).toBeUndefined();
    expect((await sessions.resolve(cookie)).kind).toBe('invalid');
  });

  it('ends every session of a user and refuses a deactivated user within the cache TTL', async () => {
    const { sessions, user, meta, store, clock } = await setup();
    const a = await sessions.create(user, meta);
    const b = await sessions.create(user, meta);
    await sessions.resolve(a.cookie);
    expect(await sessions.revokeUser(user.id)).toHaveLength(2);
    expect((await sessions.resolve(a.cookie)).kind).toBe('invalid');
    expect((await sessions.resolve(b.cookie)).kind).toBe('invalid');
    const c = await sessions.create(user, meta);
    await sessions.resolve(c.cookie);
    await store.updateUser({ ...user, active: false });
    clock.advance(1001);
    expect((await sessions.resolve(c.cookie)).kind).toBe('invalid');
  });

  it('rejects tokens signed with another key, tampered, or not JWTs at all', async () => {
    const { sessions, user, meta } = await setup();
    const { cookie } = await sessions.create(user, meta);
    const other = await SessionTokens.create([Buffer.alloc(32, 9)]);
    const forged = await other.sign('whatever', Date.now(), Date.now() + 60_000);
    for (const bad of [
      forged,
      `${cookie}x`,
      cookie.slice(0, -2),
      'not-a-jwt',
      '',
      'a.b.c',
      'x'.repeat(5000),
    ]) {
      expect((await sessions.resolve(bad)).kind).toBe('invalid');
    }
  });

  it('keeps the cache bounded', async () => {
    const { sessions, user, meta } = await setup();
    const cookies: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { cookie } = await sessions.create(user, meta);
      cookies.push(cookie);
      await sessions.resolve(cookie);
    }
    const cached = cookies.filter((c) => sessions.peek(c) !== undefined);
    expect(cached.length).toBeLessThanOrEqual(3);
    expect(sessions.peek(cookies[4] as string)?.kind).toBe('valid');
  });
});
