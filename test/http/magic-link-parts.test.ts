import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { ManualClock } from '../../src/core/clock.js';
import { ResponsePacer } from '../../src/login/response-pacer.js';
import { admit, domainAllowed } from '../../src/login/signup-policy.js';
import { describeDuration, minutesUntil } from '../../src/mail/describe-duration.js';
import { composeLoginMail } from '../../src/mail/login-mail.js';
import { RateLimiter } from '../../src/services/rate-limit.js';

describe('signup policy', () => {
  const active = { active: true };
  const inactive = { active: false };
  it.each([
    ['open', null, [], 'create'],
    ['open', active, [], 'existing'],
    ['open', inactive, [], 'refuse'],
    ['invite_only', null, [], 'refuse'],
    ['invite_only', active, [], 'existing'],
    ['invite_only', inactive, [], 'refuse'],
    ['allowed_domains', null, ['example.com'], 'create'],
    ['allowed_domains', null, ['other.com'], 'refuse'],
    ['allowed_domains', active, ['other.com'], 'existing'],
  ] as const)('%s, user %j, domains %j → %s', (policy, existing, domains, kind) => {
    expect(admit('someone@example.com', existing, policy, domains).kind).toBe(kind);
  });

  it.each([
    ['example.com', ['example.com'], true],
    ['EXAMPLE.com', ['example.com'], false], // callers pass normalised (lower-case) domains
    ['sub.example.com', ['example.com'], false],
    ['sub.example.com', ['*.example.com'], true],
    ['example.com', ['*.example.com'], false],
    ['evilexample.com', ['*.example.com'], false],
    ['example.com.evil.net', ['example.com', '*.example.com'], false],
    ['example.com', ['Example.COM.'], true],
  ] as const)('domain %s against %j → %s', (domain, allowed, expected) => {
    expect(domainAllowed(domain, allowed)).toBe(expected);
  });
});

describe('durations in words', () => {
  it.each([
    [15 * 60_000, '15 minutes'],
    [60_000, '1 minute'],
    [3_600_000, '1 hour'],
    [90_000, '90 seconds'],
    [2 * 86_400_000, '2 days'],
    [1500, '2 seconds'],
  ])('%i ms → %s', (ms, words) => {
    expect(describeDuration(ms)).toBe(words);
  });

  it('rounds "try again" up to whole minutes, at least one', () => {
    expect(minutesUntil(1)).toBe(1);
    expect(minutesUntil(60_000)).toBe(1);
    expect(minutesUntil(60_001)).toBe(2);
    expect(minutesUntil(14 * 60_000 + 5)).toBe(15);
  });
});

describe('rate limiter (clock-aligned fixed windows in the store)', () => {
  const rule = { name: 'test', limit: 3, windowMs: 15 * 60_000 };

  it('allows the limit, refuses the next with the time until the window ends, then allows again', async () => {
    const clock = new ManualClock(15 * 60_000 * 1000 + 5 * 60_000);
    const limiter = new RateLimiter(new MemoryStore(clock), clock);
    for (let i = 0; i < 3; i++)
      expect(await limiter.hit(rule, 'a@example.com')).toEqual({ allowed: true });
    expect(await limiter.hit(rule, 'a@example.com')).toEqual({
      allowed: false,
      retryAfterMs: 10 * 60_000,
    });
    expect(await limiter.hit(rule, 'b@example.com')).toEqual({ allowed: true });
    clock.advance(10 * 60_000);
    expect(await limiter.hit(rule, 'a@example.com')).toEqual({ allowed: true });
  });

  it('hitAll stops at the first limit exceeded', async () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(new MemoryStore(clock), clock);
    const ip = { name: 'ip', limit: 1, windowMs: 60_000 };
    expect(
      (
        await limiter.hitAll([
          [ip, '1.2.3.4'],
          [rule, 'x@example.com'],
        ])
      ).allowed,
    ).toBe(true);
    expect(
      (
        await limiter.hitAll([
          [ip, '1.2.3.4'],
          [rule, 'x@example.com'],
        ])
      ).allowed,
    ).toBe(false);
    // The address was not counted by the refused attempt: two more still pass.
    expect((await limiter.hit(rule, 'x@example.com')).allowed).toBe(true);
    expect((await limiter.hit(rule, 'x@example.com')).allowed).toBe(true);
    expect((await limiter.hit(rule, 'x@example.com')).allowed).toBe(false);
  });
});

describe('response pacer', () => {
  it('pads to the minimum with no samples, and to the 90th percentile of real sends', async () => {
    const pacer = new ResponsePacer(50, 1000, 10);
    expect(pacer.floorMs()).toBe(50);
    let started = pacer.start();
    await pacer.pad(started);
    expect(performance.now() - started).toBeGreaterThanOrEqual(48);
    for (let i = 0; i < 10; i++) {
      const t = pacer.start() - 120; // as if a send had taken 120 ms
      pacer.record(t);
    }
    expect(pacer.floorMs()).toBeGreaterThanOrEqual(120);
    expect(pacer.floorMs()).toBeLessThan(200);
    started = pacer.start();
    await pacer.pad(started);
    expect(performance.now() - started).toBeGreaterThanOrEqual(118);
  });

  it('never waits longer than its maximum', () => {
    const pacer = new ResponsePacer(10, 300, 4);
    for (let i = 0; i < 4; i++) pacer.record(pacer.start() - 10_000);
    expect(pacer.floorMs()).toBe(300);
  });
});

describe('login mail', () => {
  const mail = composeLoginMail({
    to: 'a@example.com',
    from: 'Notes <login@example.com>',
    link: 'https://auth.example.com/auth/magic?token=abc&x=<y>',
    productName: 'Notes & <Co>',
    site: 'https://auth.example.com',
    ttlMs: 15 * 60_000,
    expiresAt: Date.UTC(2030, 0, 2, 3, 4),
  });

  it('has both parts, the site, the expiry and the link', () => {
    expect(mail.subject).toBe('Your sign-in link for Notes & <Co>');
    for (const part of [mail.text, mail.html]) {
      expect(part).toContain('https://auth.example.com');
      expect(part).toContain('expires in 15 minutes (at 2030-01-02 03:04 UTC)');
      expect(part).toContain('did not ask for it');
    }
    expect(mail.text).toContain('https://auth.example.com/auth/magic?token=abc&x=<y>');
  });

  it('escapes everything in the HTML part', () => {
    expect(mail.html).toContain('Notes &amp; &lt;Co&gt;');
    expect(mail.html).toContain(
      'href="https://auth.example.com/auth/magic?token=abc&amp;x=&lt;y&gt;"',
    );
    expect(mail.html).not.toContain('<Co>');
  });
});
