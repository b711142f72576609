import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { ManualClock } from '../../src/core/clock.js';
import { SessionTokens } from '../../src/core/session-token.js';
import type { Lookup } from '../../src/services/sessions.js';
import { SessionService } from '../../src/services/sessions.js';

const SECRET = Buffer.alloc(32, 9);

/** Two SessionServices on one store: what two instances sharing it hold. */
async function setup() {
  const clock = new ManualClock();
  const store = new MemoryStore(clock);
  const tokens = await SessionTokens.create([SECRET]);
  const settings = {
    lifetimeMs: 86_400_000,
    idleTimeoutMs: null,
    cacheTtlMs: 1000,
    cacheMaxEntries: 100,
  };
  const sessions = new SessionService(store, tokens, clock, settings);
  const other = new SessionService(store, tokens, clock, settings);
  const user = await store.createUser({
    id: 'u1',
    email: 'a@example.com',
    name: 'A',
    groups: [],
    active: true,
    verified: true,
    createdAt: clock.now(),
    lastLoginAt: null,
  });
  return { clock, store, sessions, other, user };
}

function amrOf(lookup: Lookup | undefined): readonly string[] | undefined {
  return lookup?.kind === 'valid' ? lookup.live.identity.amr : undefined;
}

const meta = (method: string) => ({ ip: '192.0.2.1', userAgent: 'test', method });

describe('SessionService amr', () => {
  it.each([
    ['magic_link', ['link']],
    ['google_oauth', ['sso']],
    ['oidc', ['sso']],
    ['basic', ['pwd']],
    ['passkey', ['passkey']],
    ['something_new', []],
  ])('a %s sign-in without an explicit amr records %j', async (method, amr) => {
    const { sessions, user } = await setup();
    const { cookie, session } = await sessions.create(user, meta(method));
    expect(session.amr).toEqual(amr);
    expect(amrOf(await sessions.resolve(cookie))).toEqual(amr);
  });

  it('an explicit amr wins over the method default', async () => {
    const { sessions, user, store } = await setup();
    const { cookie, session } = await sessions.create(user, {
      ...meta('basic'),
      amr: ['pwd', 'otp'],
    });
    expect((await store.getSession(session.id))?.amr).toEqual(['pwd', 'otp']);
    expect(amrOf(await sessions.resolve(cookie))).toEqual(['pwd', 'otp']);
  });

  it('stepUp shows on this instance at once, and on another within the cache TTL', async () => {
    const { sessions, other, user, clock } = await setup();
    const { cookie, session } = await sessions.create(user, meta('magic_link'));
    await sessions.resolve(cookie);
    await other.resolve(cookie);
    expect(await sessions.stepUp(session.id, ['passkey'])).toBe(true);
    expect(sessions.peek(cookie)).toBeUndefined();
    expect(amrOf(await sessions.resolve(cookie))).toEqual(['link', 'passkey']);
    // The other instance answers from its cache until the entry goes stale (1 s), never longer.
    expect(amrOf(other.peek(cookie))).toEqual(['link']);
    clock.advance(1000);
    expect(other.peek(cookie)).toBeUndefined();
    expect(amrOf(await other.resolve(cookie))).toEqual(['link', 'passkey']);
  });

  it('stepUp on an ended session adds nothing and says so', async () => {
    const { sessions, user, store } = await setup();
    const { cookie, session } = await sessions.create(user, meta('magic_link'));
    await sessions.revoke(session.id);
    expect(await sessions.stepUp(session.id, ['otp'])).toBe(false);
    expect(await store.getSession(session.id)).toBeNull();
    expect((await sessions.resolve(cookie)).kind).toBe('invalid');
  });

  it('stepUp refuses a malformed method name', async () => {
    const { sessions, user } = await setup();
    const { session } = await sessions.create(user, meta('magic_link'));
    await expect(sessions.stepUp(session.id, ['pass key'])).rejects.toThrow(
      /authentication method/,
    );
  });
});
