import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { hashAppToken, mintAppToken } from '../../src/core/app-token.js';
import { ManualClock } from '../../src/core/clock.js';
import { type Store, StoreUnavailableError, type User } from '../../src/ports/store.js';
import { AppTokenService } from '../../src/services/app-tokens.js';
import { waitFor } from '../helpers/ports.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { OpenStores } from '../helpers/store-kinds.js';

const DAY = 86_400_000;
const MAX_LIFETIME = 365 * DAY;
const TARGET = { host: 'khoj.example.com', path: '/api/chat', method: 'POST' };

async function addUser(store: Store, clock: ManualClock, email: string): Promise<User> {
  return store.createUser({
    id: `user-${randomBytes(4).toString('hex')}`,
    email,
    name: email,
    groups: [],
    active: true,
    verified: true,
    createdAt: clock.now(),
    lastLoginAt: null,
  });
}

async function setup() {
  const clock = new ManualClock();
  const store = new MemoryStore(clock);
  const service = new AppTokenService(store, store, clock, { maxLifetimeMs: MAX_LIFETIME });
  const user = await addUser(store, clock, 'zoe@example.com');
  return { clock, store, service, user };
}

async function created(service: AppTokenService, userId: string, options = {}) {
  const result = await service.create(userId, 'obsidian', options);
  if (!result.ok) throw new Error(result.message);
  return result;
}

describe('AppTokenService.create', () => {
  it('returns the token once; the store keeps only its hash; lists never show it', async () => {
    const { service, store, user, clock } = await setup();
    const { token, record } = await created(service, user.id, { expiresInMs: 90 * DAY });
    expect(token).toMatch(/^pcx_[A-Za-z0-9_-]{43}$/);
    expect(record).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{16}$/),
      userId: user.id,
      name: 'obsidian',
      createdAt: clock.now(),
      lastUsedAt: null,
      expiresAt: clock.now() + 90 * DAY,
      scope: null,
      revokedAt: null,
    });
    expect(JSON.stringify(record)).not.toContain(token.slice(4));
    const stored = await store.findAppTokenByHash(hashAppToken(token));
    expect(stored?.id).toBe(record.id);
    expect(JSON.stringify(stored)).not.toContain(token.slice(4));
    const listed = await service.list(user.id);
    expect(listed).toEqual([record]);
    expect(JSON.stringify(listed)).not.toContain(stored?.hash as string);
  });

  it('gives a token without an expiry tokens.max_lifetime', async () => {
    const { service, user, clock } = await setup();
    const { record } = await created(service, user.id);
    expect(record.expiresAt).toBe(clock.now() + MAX_LIFETIME);
  });

  it.each([
    ['empty name', '', {}, 'bad_name'],
    ['blank name', '   ', {}, 'bad_name'],
    ['name too long', 'n'.repeat(65), {}, 'bad_name'],
    ['control character in the name', 'a\u001b[31mb', {}, 'bad_name'],
    ['zero expiry', 'x', { expiresInMs: 0 }, 'bad_expiry'],
    ['negative expiry', 'x', { expiresInMs: -5 }, 'bad_expiry'],
    ['fractional expiry', 'x', { expiresInMs: 1.5 }, 'bad_expiry'],
    ['infinite expiry', 'x', { expiresInMs: Number.POSITIVE_INFINITY }, 'bad_expiry'],
    ['past max_lifetime', 'x', { expiresInMs: MAX_LIFETIME + 1 }, 'too_long'],
    ['bad scope', 'x', { scope: { paths: ['no-slash'] } }, 'bad_scope'],
  ])('refuses %s', async (_why, name, options, reason) => {
    const { service, user, store } = await setup();
    const result = await service.create(user.id, name, options);
    expect(result).toMatchObject({ ok: false, reason });
    expect(await store.listUserAppTokens(user.id)).toEqual([]);
  });

  it('refuses an unknown or deactivated user, and more than maxPerUser tokens', async () => {
    const { service, user, store, clock } = await setup();
    expect(await service.create('nobody', 'x')).toMatchObject({
      ok: false,
      reason: 'unknown_user',
    });
    const limited = new AppTokenService(store, store, clock, { maxLifetimeMs: DAY, maxPerUser: 2 });
    await created(limited, user.id);
    await created(limited, user.id);
    expect(await limited.create(user.id, 'x')).toMatchObject({ ok: false, reason: 'too_many' });
    await store.updateUser({ ...user, active: false });
    expect(await service.create(user.id, 'x')).toMatchObject({
      ok: false,
      reason: 'inactive_user',
    });
  });
});

describe('AppTokenService.verify', () => {
  it('accepts a live token as its user', async () => {
    const { service, user } = await setup();
    const { token, record } = await created(service, user.id);
    const verdict = await service.verify(token, TARGET);
    expect(verdict).toMatchObject({ ok: true, user: { id: user.id, email: user.email } });
    expect(verdict.ok && verdict.record.id).toBe(record.id);
    expect(JSON.stringify(verdict)).not.toContain('"hash"');
  });

  it('refuses unknown, malformed, truncated and wrong-prefix tokens as unknown', async () => {
    const { service, user } = await setup();
    const { token } = await created(service, user.id);
    for (const raw of [
      mintAppToken().token,
      '',
      'pcx_',
      token.slice(0, -1),
      `${token}A`,
      `pcy_${token.slice(4)}`,
      token.slice(4),
      `Bearer ${token}`,
      token.toUpperCase(),
    ]) {
      expect(await service.verify(raw, TARGET)).toEqual({ ok: false, reason: 'unknown' });
    }
  });

  it('refuses an expired token, also when its answer is cached', async () => {
    const { service, user, clock } = await setup();
    const { token } = await created(service, user.id, { expiresInMs: 60_000 });
    expect((await service.verify(token, TARGET)).ok).toBe(true);
    clock.advance(60_000);
    expect(await service.verify(token, TARGET)).toEqual({ ok: false, reason: 'expired' });
    clock.advance(1000);
    expect(await service.verify(token, TARGET)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a revoked token at once on the instance that revoked it', async () => {
    const { service, user } = await setup();
    const { token, record } = await created(service, user.id);
    expect((await service.verify(token, TARGET)).ok).toBe(true);
    expect((await service.revoke(record.id))?.id).toBe(record.id);
    expect(await service.verify(token, TARGET)).toEqual({ ok: false, reason: 'revoked' });
    expect(await service.list(user.id)).toEqual([]);
    expect(await service.revoke(record.id)).toBeNull();
  });

  it('refuses out of scope, and still accepts in scope', async () => {
    const { service, user } = await setup();
    const { token } = await created(service, user.id, {
      scope: { hosts: ['khoj.example.com'], paths: ['/api/**'], methods: ['GET', 'POST'] },
    });
    expect((await service.verify(token, TARGET)).ok).toBe(true);
    for (const target of [
      { ...TARGET, host: 'wiki.example.com' },
      { ...TARGET, path: '/admin' },
      { ...TARGET, method: 'DELETE' },
      { ...TARGET, method: '' },
    ]) {
      expect(await service.verify(token, target)).toEqual({ ok: false, reason: 'out_of_scope' });
    }
    expect((await service.verify(token, TARGET)).ok).toBe(true);
  });

  it('refuses the token of a deactivated or deleted user within the cache lifetime (1 s)', async () => {
    const { service, user, store, clock } = await setup();
    const { token } = await created(service, user.id);
    expect((await service.verify(token, TARGET)).ok).toBe(true);
    await store.updateUser({ ...user, active: false });
    clock.advance(1000);
    expect(await service.verify(token, TARGET)).toEqual({ ok: false, reason: 'inactive_user' });
    await store.updateUser({ ...user, active: true });
    expect((await service.verify(token, TARGET)).ok).toBe(true);
    await store.deleteUser(user.id);
    service.forgetUser(user.id);
    expect(await service.verify(token, TARGET)).toEqual({ ok: false, reason: 'inactive_user' });
  });

  it('answers from the cache for at most a second, and shares one read between concurrent checks', async () => {
    const { service, user, store, clock } = await setup();
    const { token } = await created(service, user.id);
    const reads = vi.spyOn(store, 'findAppTokenByHash');
    const verdicts = await Promise.all(
      Array.from({ length: 20 }, () => service.verify(token, TARGET)),
    );
    expect(verdicts.every((v) => v.ok)).toBe(true);
    expect(reads).toHaveBeenCalledTimes(1);
    clock.advance(999);
    await service.verify(token, TARGET);
    expect(reads).toHaveBeenCalledTimes(1);
    clock.advance(1);
    await service.verify(token, TARGET);
    expect(reads).toHaveBeenCalledTimes(2);
  });

  it('never caches longer than 1 s, whatever the settings say', async () => {
    const { store, user, clock } = await setup();
    const service = new AppTokenService(store, store, clock, {
      maxLifetimeMs: DAY,
      cacheTtlMs: 60_000,
    });
    const { token } = await created(service, user.id);
    const reads = vi.spyOn(store, 'findAppTokenByHash');
    await service.verify(token, TARGET);
    clock.advance(1000);
    await service.verify(token, TARGET);
    expect(reads).toHaveBeenCalledTimes(2);
  });

  it('writes lastUsedAt at most once a minute per token', async () => {
    const { service, user, store, clock } = await setup();
    const { token, record } = await created(service, user.id);
    const touches = vi.spyOn(store, 'touchAppToken');
    for (let i = 0; i < 120; i++) {
      await service.verify(token, TARGET);
      clock.advance(500);
    }
    expect(touches).toHaveBeenCalledTimes(1);
    clock.advance(1000);
    await service.verify(token, TARGET);
    expect(touches).toHaveBeenCalledTimes(2);
    expect((await service.get(record.id))?.lastUsedAt).toBe(clock.now());
  });
});

describe('AppTokenService.revoke', () => {
  it('lets a user revoke only their own tokens, an admin and the operator any', async () => {
    const { service, user, store, clock } = await setup();
    const other = await addUser(store, clock, 'max@example.com');
    const a = await created(service, user.id);
    const b = await created(service, user.id);
    const c = await created(service, user.id);
    expect(await service.revoke(a.record.id, { userId: other.id, admin: false })).toBeNull();
    expect((await service.verify(a.token, TARGET)).ok).toBe(true);
    expect((await service.revoke(a.record.id, { userId: user.id, admin: false }))?.id).toBe(
      a.record.id,
    );
    expect((await service.revoke(b.record.id, { userId: other.id, admin: true }))?.id).toBe(
      b.record.id,
    );
    expect((await service.revoke(c.record.id))?.id).toBe(c.record.id);
    expect(await service.revoke('0123456789abcdef', { userId: user.id, admin: false })).toBeNull();
  });

  it('revokeUser ends every token of the user', async () => {
    const { service, user } = await setup();
    const a = await created(service, user.id);
    const b = await created(service, user.id);
    await service.verify(a.token, TARGET);
    expect(await service.revokeUser(user.id)).toBe(2);
    expect(await service.verify(a.token, TARGET)).toEqual({ ok: false, reason: 'revoked' });
    expect(await service.verify(b.token, TARGET)).toEqual({ ok: false, reason: 'revoked' });
  });
});

describe('AppTokenService on a shared Redis (two instances)', () => {
  let redis: RedisServer;
  const stores = new OpenStores();
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(() => stores.closeAll());
  afterAll(async () => {
    await stores.closeAll();
    await redis?.stop();
  });

  async function twoInstances() {
    const clock = new ManualClock();
    const prefix = `atsvc:${randomBytes(4).toString('hex')}:`;
    const storeA = await stores.redis(redis, prefix, clock);
    const storeB = await stores.redis(redis, prefix, clock);
    const a = new AppTokenService(storeA, storeA, clock, { maxLifetimeMs: MAX_LIFETIME });
    const b = new AppTokenService(storeB, storeB, clock, { maxLifetimeMs: MAX_LIFETIME });
    const user = await addUser(storeA, clock, `u${randomBytes(3).toString('hex')}@example.com`);
    return { clock, storeA, storeB, a, b, user };
  }

  it('a token revoked on one instance is refused on the other within 1 s', async () => {
    const { a, b, user, clock } = await twoInstances();
    const { token, record } = await created(a, user.id);
    expect((await b.verify(token, TARGET)).ok).toBe(true);
    await a.revoke(record.id);
    expect(await a.verify(token, TARGET)).toEqual({ ok: false, reason: 'revoked' });
    clock.advance(1000);
    expect(await b.verify(token, TARGET)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('a user deactivated on one instance loses their tokens on the other within 1 s', async () => {
    const { a, b, user, clock, storeA } = await twoInstances();
    const { token } = await created(a, user.id);
    expect((await b.verify(token, TARGET)).ok).toBe(true);
    await storeA.updateUser({ ...user, active: false });
    clock.advance(1000);
    expect(await b.verify(token, TARGET)).toEqual({ ok: false, reason: 'inactive_user' });
  });

  it('surfaces StoreUnavailableError when Redis is gone, without answering from the cache', async () => {
    const { a, user, storeA } = await twoInstances();
    const { token } = await created(a, user.id);
    expect((await a.verify(token, TARGET)).ok).toBe(true);
    let down = false;
    storeA.onAvailability((up) => {
      if (!up) down = true;
    });
    await redis.kill();
    try {
      await waitFor(() => down, 5000, 'the store to report the outage');
      await expect(a.verify(token, TARGET)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await redis.restart();
    }
  });
});
