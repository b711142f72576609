import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { ManualClock } from '../../src/core/clock.js';
import { TOTP_PERIOD_MS, totpCode, totpStep } from '../../src/core/totp.js';
import type { Store } from '../../src/ports/store.js';
import {
  SECOND_FACTOR_LIMIT,
  SecondFactorService,
  type SecondFactorSettings,
  TotpSecretUnreadableError,
} from '../../src/services/second-factor.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { OpenStores } from '../helpers/store-kinds.js';

const KEY = randomBytes(32).toString('hex');
const OLD_KEY = randomBytes(32).toString('hex');
const USER = { id: 'user-1', email: 'alice@example.com' };

function service(store: Store, clock: ManualClock, settings: Partial<SecondFactorSettings> = {}) {
  return new SecondFactorService(store, clock, {
    issuer: 'Portcullis',
    secretKeys: [KEY],
    ...settings,
  });
}

/** The code the user's app shows now, `offset` steps away. */
function codeNow(secret: string, clock: ManualClock, offset = 0): string {
  return totpCode(secret, totpStep(clock.now()) + offset);
}

async function enrolled(svc: SecondFactorService, clock: ManualClock, user = USER) {
  const begun = await svc.beginTotpEnrolment(user);
  if (!begun.ok) throw new Error('enrolment refused');
  const confirmed = await svc.confirmTotpEnrolment(user.id, codeNow(begun.secret, clock));
  if (!confirmed.ok) throw new Error(`confirmation refused: ${confirmed.reason}`);
  // The confirming code's step is used up: the next sign-in is in a later step.
  clock.advance(TOTP_PERIOD_MS);
  return { secret: begun.secret, recoveryCodes: confirmed.recoveryCodes };
}

function memory() {
  const clock = new ManualClock();
  const store = new MemoryStore(clock);
  return { clock, store, svc: service(store, clock) };
}

describe('enrolment', () => {
  it('gives a secret, its otpauth URI and a QR code as inert SVG; pending until confirmed', async () => {
    const { svc } = memory();
    const begun = await svc.beginTotpEnrolment(USER);
    if (!begun.ok) throw new Error('refused');
    expect(begun.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(begun.uri);
    expect(uri.searchParams.get('secret')).toBe(begun.secret);
    expect(uri.searchParams.get('issuer')).toBe('Portcullis');
    expect(decodeURIComponent(uri.pathname)).toBe('/Portcullis:alice@example.com');
    expect(begun.qrSvg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/);
    expect(begun.qrSvg).not.toMatch(/<script|on\w+=|href|<image|<foreignObject/i);
    expect(await svc.hasSecondFactor(USER.id)).toBe(false);
    expect(await svc.status(USER.id)).toEqual({
      totp: 'pending',
      confirmedAt: null,
      recoveryCodesLeft: 0,
    });
    expect(await svc.verifyTotp(USER.id, '123456')).toEqual({ ok: false, reason: 'not_enrolled' });
  });

  it('stores the secret sealed, never in the clear', async () => {
    const { svc, store } = memory();
    const begun = await svc.beginTotpEnrolment(USER);
    if (!begun.ok) throw new Error('refused');
    const record = await store.getSecondFactors(USER.id);
    expect(JSON.stringify(record)).not.toContain(begun.secret);
    expect(record?.totp?.secretEnc).toMatch(/^v1\./);
  });

  it('confirms with a code from the app, returns ten recovery codes once, stores only hashes', async () => {
    const { svc, store, clock } = memory();
    const begun = await svc.beginTotpEnrolment(USER);
    if (!begun.ok) throw new Error('refused');
    expect(await svc.confirmTotpEnrolment(USER.id, '000000x')).toEqual({
      ok: false,
      reason: 'bad_code',
    });
    const confirmed = await svc.confirmTotpEnrolment(USER.id, codeNow(begun.secret, clock));
    if (!confirmed.ok) throw new Error(confirmed.reason);
    expect(confirmed.recoveryCodes).toHaveLength(10);
    for (const code of confirmed.recoveryCodes)
      expect(code).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{2}$/);
    const stored = JSON.stringify(await store.getSecondFactors(USER.id));
    for (const code of confirmed.recoveryCodes) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replaceAll('-', ''));
    }
    expect(await svc.hasSecondFactor(USER.id)).toBe(true);
    expect(await svc.status(USER.id)).toEqual({
      totp: 'confirmed',
      confirmedAt: clock.now(),
      recoveryCodesLeft: 10,
    });
    // Confirming again is refused, and the confirming code cannot sign in (its step is used).
    expect(await svc.confirmTotpEnrolment(USER.id, codeNow(begun.secret, clock))).toEqual({
      ok: false,
      reason: 'not_pending',
    });
    expect(await svc.verifyTotp(USER.id, codeNow(begun.secret, clock))).toEqual({
      ok: false,
      reason: 'replayed',
    });
  });

  it('a restarted enrolment invalidates the first secret', async () => {
    const { svc, clock } = memory();
    const first = await svc.beginTotpEnrolment(USER);
    const second = await svc.beginTotpEnrolment(USER);
    if (!first.ok || !second.ok) throw new Error('refused');
    expect(second.secret).not.toBe(first.secret);
    const stale = codeNow(first.secret, clock);
    if (stale !== codeNow(second.secret, clock))
      expect(await svc.confirmTotpEnrolment(USER.id, stale)).toEqual({
        ok: false,
        reason: 'bad_code',
      });
    expect((await svc.confirmTotpEnrolment(USER.id, codeNow(second.secret, clock))).ok).toBe(true);
  });

  it('refuses a new enrolment over a confirmed one until disabled', async () => {
    const { svc, clock } = memory();
    const { secret } = await enrolled(svc, clock);
    expect(await svc.beginTotpEnrolment(USER)).toEqual({ ok: false, reason: 'already_enrolled' });
    expect((await svc.verifyTotp(USER.id, codeNow(secret, clock))).ok).toBe(true);
    await svc.disable(USER.id);
    expect(await svc.hasSecondFactor(USER.id)).toBe(false);
    expect(await svc.status(USER.id)).toEqual({
      totp: 'none',
      confirmedAt: null,
      recoveryCodesLeft: 0,
    });
    clock.advance(TOTP_PERIOD_MS);
    expect(await svc.verifyTotp(USER.id, codeNow(secret, clock))).toEqual({
      ok: false,
      reason: 'not_enrolled',
    });
    expect((await svc.beginTotpEnrolment(USER)).ok).toBe(true);
  });

  it('confirmation without a begun enrolment is not_pending', async () => {
    const { svc } = memory();
    expect(await svc.confirmTotpEnrolment(USER.id, '123456')).toEqual({
      ok: false,
      reason: 'not_pending',
    });
  });
});

describe('verifyTotp', () => {
  it('accepts the current code, and a code one step early or late', async () => {
    for (const offset of [-1, 0, 1]) {
      const { svc, clock } = memory();
      const { secret } = await enrolled(svc, clock);
      // Clear of the confirming code's step, which is used up.
      clock.advance(TOTP_PERIOD_MS);
      expect(await svc.verifyTotp(USER.id, codeNow(secret, clock, offset))).toEqual({ ok: true });
    }
  });

  it('refuses the same code twice in its window, then accepts the next step', async () => {
    const { svc, clock } = memory();
    const { secret } = await enrolled(svc, clock);
    const code = codeNow(secret, clock);
    expect(await svc.verifyTotp(USER.id, code)).toEqual({ ok: true });
    clock.advance(10_000);
    expect(await svc.verifyTotp(USER.id, code)).toEqual({ ok: false, reason: 'replayed' });
    clock.advance(TOTP_PERIOD_MS);
    expect(await svc.verifyTotp(USER.id, codeNow(secret, clock))).toEqual({ ok: true });
  });

  it('refuses wrong and malformed codes as bad_code', async () => {
    const { svc, clock } = memory();
    const { secret } = await enrolled(svc, clock);
    const near = new Set([-1, 0, 1].map((o) => codeNow(secret, clock, o)));
    const wrong = ['000000', '111111', '222222'].find((c) => !near.has(c)) as string;
    expect(await svc.verifyTotp(USER.id, wrong)).toEqual({ ok: false, reason: 'bad_code' });
    expect(await svc.verifyTotp(USER.id, ` ${codeNow(secret, clock)}`)).toEqual({
      ok: false,
      reason: 'bad_code',
    });
    expect(await svc.verifyTotp(USER.id, '')).toEqual({ ok: false, reason: 'bad_code' });
  });

  it('throttles guessing: after 5 attempts in 5 minutes even the right code is refused', async () => {
    const { svc, clock } = memory();
    const { secret } = await enrolled(svc, clock);
    // The confirmation counted too: start a fresh window.
    clock.advance(SECOND_FACTOR_LIMIT.windowMs);
    const near = new Set([-1, 0, 1].map((o) => codeNow(secret, clock, o)));
    const guesses = ['000000', '111111', '222222', '333333', '444444', '555555', '666666']
      .filter((c) => !near.has(c))
      .slice(0, SECOND_FACTOR_LIMIT.limit);
    for (const guess of guesses)
      expect(await svc.verifyTotp(USER.id, guess)).toEqual({ ok: false, reason: 'bad_code' });
    const limited = await svc.verifyTotp(USER.id, codeNow(secret, clock));
    expect(limited).toMatchObject({ ok: false, reason: 'rate_limited' });
    expect(
      limited.ok === false && limited.reason === 'rate_limited' && limited.retryAfterMs,
    ).toBeGreaterThan(0);
    // Recovery codes share the budget.
    expect(await svc.useRecoveryCode(USER.id, 'aaaa-aaaa-aa')).toMatchObject({
      reason: 'rate_limited',
    });
    // Another user is not affected.
    const other = { id: 'user-2', email: 'bob@example.com' };
    const bob = await enrolled(svc, clock, other);
    expect(await svc.verifyTotp(other.id, codeNow(bob.secret, clock))).toEqual({ ok: true });
    clock.advance(SECOND_FACTOR_LIMIT.windowMs);
    expect(await svc.verifyTotp(USER.id, codeNow(secret, clock))).toEqual({ ok: true });
  });
});

describe('recovery codes', () => {
  it('each works once, typed loosely; then it is refused', async () => {
    const { svc, clock } = memory();
    const { recoveryCodes } = await enrolled(svc, clock);
    const [first, second] = recoveryCodes as [string, string];
    expect(await svc.useRecoveryCode(USER.id, first)).toEqual({ ok: true, remaining: 9 });
    expect(await svc.useRecoveryCode(USER.id, first)).toEqual({ ok: false, reason: 'bad_code' });
    expect(
      await svc.useRecoveryCode(USER.id, ` ${second.toUpperCase().replaceAll('-', ' ')} `),
    ).toEqual({
      ok: true,
      remaining: 8,
    });
  });

  it("refuses malformed input, another user's code and a made-up code alike", async () => {
    const { svc, clock } = memory();
    await enrolled(svc, clock);
    const bob = await enrolled(svc, clock, { id: 'user-2', email: 'bob@example.com' });
    clock.advance(SECOND_FACTOR_LIMIT.windowMs);
    for (const input of [
      '',
      'x'.repeat(100_000),
      'ａｂｃｄ-ｅｆｇｈ-ｊｋ',
      bob.recoveryCodes[0] as string,
      'zzzz-zzzz-zz',
    ])
      expect(await svc.useRecoveryCode(USER.id, input)).toEqual({ ok: false, reason: 'bad_code' });
    expect((await svc.status(USER.id)).recoveryCodesLeft).toBe(10);
  });

  it('regenerating replaces every old code', async () => {
    const { svc, clock } = memory();
    const { recoveryCodes } = await enrolled(svc, clock);
    const fresh = await svc.regenerateRecoveryCodes(USER.id);
    if (!fresh.ok) throw new Error('refused');
    expect(await svc.useRecoveryCode(USER.id, recoveryCodes[0] as string)).toEqual({
      ok: false,
      reason: 'bad_code',
    });
    expect(await svc.useRecoveryCode(USER.id, fresh.recoveryCodes[0] as string)).toEqual({
      ok: true,
      remaining: 9,
    });
    expect(await svc.regenerateRecoveryCodes('nobody')).toEqual({
      ok: false,
      reason: 'not_enrolled',
    });
  });
});

describe('secret keys', () => {
  it('a service with another key cannot read the secret (and says so, never "not enrolled")', async () => {
    const { svc, clock, store } = memory();
    const { secret, recoveryCodes } = await enrolled(svc, clock);
    const stranger = service(store, clock, { secretKeys: [randomBytes(32).toString('hex')] });
    await expect(stranger.verifyTotp(USER.id, codeNow(secret, clock))).rejects.toBeInstanceOf(
      TotpSecretUnreadableError,
    );
    expect(await stranger.hasSecondFactor(USER.id)).toBe(true);
    expect(await stranger.useRecoveryCode(USER.id, recoveryCodes[0] as string)).toEqual({
      ok: false,
      reason: 'bad_code',
    });
  });

  it('after rotation (new key first, old kept) secrets and recovery codes still work', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore(clock);
    const before = service(store, clock, { secretKeys: [OLD_KEY] });
    const { secret, recoveryCodes } = await enrolled(before, clock);
    const after = service(store, clock, { secretKeys: [KEY, OLD_KEY] });
    expect(await after.verifyTotp(USER.id, codeNow(secret, clock))).toEqual({ ok: true });
    expect(await after.useRecoveryCode(USER.id, recoveryCodes[0] as string)).toEqual({
      ok: true,
      remaining: 9,
    });
    // New enrolments are sealed with the new key: the old key alone cannot read them.
    const bob = { id: 'user-2', email: 'bob@example.com' };
    const bobs = await enrolled(after, clock, bob);
    await expect(before.verifyTotp(bob.id, codeNow(bobs.secret, clock))).rejects.toBeInstanceOf(
      TotpSecretUnreadableError,
    );
  });
});

describe('two instances sharing a real Redis', () => {
  let redis: RedisServer;
  const stores = new OpenStores();
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(() => stores.closeAll());
  afterAll(() => redis.stop());

  async function pair() {
    const clock = new ManualClock();
    const prefix = `sfsvc:${randomBytes(6).toString('hex')}:`;
    const a = await stores.redis(redis, prefix, clock);
    const b = await stores.redis(redis, prefix, clock);
    return { clock, first: service(a, clock), second: service(b, clock) };
  }

  it('a code accepted on one instance is refused as replayed on the other, in the same window', async () => {
    const { clock, first, second } = await pair();
    const { secret } = await enrolled(first, clock);
    const code = codeNow(secret, clock);
    expect(await first.verifyTotp(USER.id, code)).toEqual({ ok: true });
    clock.advance(5_000);
    expect(await second.verifyTotp(USER.id, code)).toEqual({ ok: false, reason: 'replayed' });
  });

  it('the same code sent to both at once is accepted exactly once', async () => {
    const { clock, first, second } = await pair();
    const { secret } = await enrolled(first, clock);
    const code = codeNow(secret, clock);
    const results = await Promise.all([
      first.verifyTotp(USER.id, code),
      second.verifyTotp(USER.id, code),
      first.verifyTotp(USER.id, code),
      second.verifyTotp(USER.id, code),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.reason === 'replayed')).toHaveLength(3);
  });

  it('a recovery code used on one instance is gone on the other', async () => {
    const { clock, first, second } = await pair();
    const { recoveryCodes } = await enrolled(first, clock);
    const code = recoveryCodes[3] as string;
    const results = await Promise.all([
      first.useRecoveryCode(USER.id, code),
      second.useRecoveryCode(USER.id, code),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(await second.useRecoveryCode(USER.id, code)).toEqual({ ok: false, reason: 'bad_code' });
  });

  it('the guessing budget is shared by both instances', async () => {
    const { clock, first, second } = await pair();
    const { secret } = await enrolled(first, clock);
    clock.advance(SECOND_FACTOR_LIMIT.windowMs);
    const near = new Set([-1, 0, 1].map((o) => codeNow(secret, clock, o)));
    const guesses = ['000000', '111111', '222222', '333333', '444444', '555555', '666666']
      .filter((c) => !near.has(c))
      .slice(0, SECOND_FACTOR_LIMIT.limit);
    for (const [i, guess] of guesses.entries())
      expect(await (i % 2 ? first : second).verifyTotp(USER.id, guess)).toEqual({
        ok: false,
        reason: 'bad_code',
      });
    expect(await first.verifyTotp(USER.id, codeNow(secret, clock))).toMatchObject({
      reason: 'rate_limited',
    });
    expect(await second.verifyTotp(USER.id, codeNow(secret, clock))).toMatchObject({
      reason: 'rate_limited',
    });
  });
});
