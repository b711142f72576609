import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { hashPassword } from '../../src/core/password.js';
import { ACCOUNT_LIMIT, IP_LIMIT } from '../../src/login/password-check.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * POST /auth/basic: static users from the config and users with a stored hash; one answer (and
 * one timing) for unknown users and wrong passwords; per-account and per-address throttling in
 * the store; hostile and extreme input. The client address is set with X-Forwarded-For (the
 * test client is a trusted proxy), so each test has its own budget.
 */
const CSRF = 'p'.repeat(43);
const clock = new ManualClock(Date.now());
let app: TestApp;
let ipCounter = 0;

function freshIp(): string {
  ipCounter += 1;
  return `10.9.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`;
}

beforeAll(async () => {
  app = await startTestApp(
    {
      auth: {
        enabled_auth: ['magic_link', 'basic'],
        basic: {
          users: [
            { email: 'Static@Example.com', password_hash: await hashPassword('correct horse') },
          ],
        },
      },
    },
    { clock },
  );
  const stored = await app.ctx.store.createUser({
    id: 'stored-user',
    email: 'stored@example.com',
    name: 'Stored',
    groups: ['ops'],
    active: true,
    verified: true,
    createdAt: clock.now(),
    lastLoginAt: null,
  });
  await app.ctx.store.updateUser({ ...stored, passwordHash: await hashPassword('battery staple') });
  await app.ctx.store.createUser({
    id: 'magic-only',
    email: 'magic@example.com',
    name: 'Magic only',
    groups: [],
    active: true,
    verified: true,
    createdAt: clock.now(),
    lastLoginAt: null,
  });
});

afterAll(async () => {
  await app?.close();
});

function post(fields: Record<string, string>, ip = freshIp(), extra: Record<string, string> = {}) {
  return fetch(`${app.url}/auth/basic`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `portcullis_csrf=${CSRF}`,
      'x-forwarded-for': ip,
      ...extra,
    },
    body: new URLSearchParams({ csrf: CSRF, rd: '/', ...fields }).toString(),
  });
}

function message(page: string): string {
  return /<p class="message error"[^>]*>([^<]*)<\/p>/.exec(page)?.[1] ?? '';
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

describe('password sign-in', () => {
  it('offers the password on the login page, then asks for it on the password step', async () => {
    const page = await (await fetch(`${app.url}/auth/login?rd=%2Fdocs`)).text();
    expect(page).toContain(
      '<button type="submit" formaction="/auth/basic" name="step" value="password" class="secondary">Use my password</button>',
    );
    const step = await post({ email: 'stored@example.com', step: 'password', rd: '/docs' });
    expect(step.status).toBe(200);
    const body = await step.text();
    expect(body).toContain('<form method="post" action="/auth/basic"');
    expect(body).toMatch(
      /name="password" type="password" autocomplete="current-password" required maxlength="1024"/,
    );
    expect(body).toContain('name="rd" value="/docs"');
    expect(body).toContain('<button type="submit">Sign in</button>');
  });

  it('signs in a static user from the config (any case) and creates their account on first use', async () => {
    expect(await app.ctx.store.getUserByEmail('static@example.com')).toBeNull();
    const response = await post({
      email: ' STATIC@example.com ',
      password: 'correct horse',
      rd: '/docs',
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/docs');
    const cookie = /portcullis_session=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
    expect(cookie).toBeTruthy();
    const me = await fetch(`${app.url}/auth/me`, {
      headers: { cookie: `portcullis_session=${cookie}` },
    });
    const body = (await me.json()) as { email: string; session: { method: string } };
    expect(body.email).toBe('static@example.com');
    expect(body.session.method).toBe('basic');
    expect((await app.ctx.store.getUserByEmail('static@example.com'))?.verified).toBe(true);
  });

  it('signs in a user whose hash is in the store, and keeps rd safe', async () => {
    const ok = await post({
      email: 'stored@example.com',
      password: 'battery staple',
      rd: 'https://evil.example.com/',
    });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/');
  });

  it('gives unknown users, users without a password and wrong passwords the same answer', async () => {
    const answers = await Promise.all([
      post({ email: 'stored@example.com', password: 'wrong' }),
      post({ email: 'nobody@example.com', password: 'wrong' }),
      post({ email: 'magic@example.com', password: 'wrong' }),
      post({ email: 'static@example.com', password: 'Correct horse' }),
    ]);
    const pages = await Promise.all(answers.map(async (a) => [a.status, message(await a.text())]));
    for (const page of pages) expect(page).toEqual([401, 'Wrong email or password.']);
  });

  it('takes as long for an unknown user as for a wrong password (a dummy hash is checked)', async () => {
    const unknown: number[] = [];
    const known: number[] = [];
    for (let i = 0; i < 6; i++) {
      for (const [email, into] of [
        [`ghost${i}@example.com`, unknown],
        ['stored@example.com', known],
      ] as const) {
        const started = performance.now();
        const response = await post({ email, password: `guess-${i}` });
        await response.arrayBuffer();
        into.push(performance.now() - started);
        expect(response.status).toBe(401);
      }
    }
    // Without the dummy hash an unknown user answers in about a millisecond; scrypt takes tens.
    const [u, k] = [median(unknown), median(known)];
    expect(u).toBeGreaterThan(k * 0.5);
    expect(u).toBeLessThan(k * 2);
    clock.advance(ACCOUNT_LIMIT.windowMs);
  });

  it('handles a password of 0 characters and one of 10 000 characters', async () => {
    const empty = await post({ email: 'stored@example.com', password: '' });
    expect(empty.status).toBe(401);
    expect(message(await empty.text())).toBe('Wrong email or password.');
    const missing = await post({ email: 'stored@example.com' });
    expect(missing.status).toBe(401);
    const long = await post({
      email: 'stored@example.com',
      password: `battery staple${'x'.repeat(9986)}`,
    });
    expect(long.status).toBe(401);
    expect(message(await long.text())).toBe('Wrong email or password.');
    // 10 000 non-ASCII characters are more than a form may carry: a clear page, not a crash.
    const wide = await post({ email: 'stored@example.com', password: 'ж'.repeat(10_000) });
    expect(wide.status).toBe(413);
    expect(wide.headers.get('content-type')).toContain('text/html');
    await wide.arrayBuffer();
    clock.advance(ACCOUNT_LIMIT.windowMs);
  });

  it('escapes and survives hostile email input', async () => {
    for (const email of [
      '"><script>alert(1)</script>@example.com',
      'two@at@example.com',
      `${'a'.repeat(5000)}@example.com`,
      'crlf@example.com\r\nSet-Cookie: x=y',
      '\u0000@example.com',
    ]) {
      const response = await post({ email, password: 'x' });
      expect(response.status).toBe(401);
      const page = await response.text();
      expect(page).not.toContain('<script>alert');
      expect(response.headers.get('set-cookie') ?? '').not.toContain('x=y');
    }
    const raw = await fetch(`${app.url}/auth/basic`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_csrf=${CSRF}`,
      },
      body: `csrf=${CSRF}&email=%FF%FE%C0%AF@example.com&password=%FF`,
    });
    expect(raw.status).toBe(401);
  });

  it('refuses a cross-site browser form without the CSRF token', async () => {
    const response = await fetch(`${app.url}/auth/basic`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
      },
      body: new URLSearchParams({
        email: 'stored@example.com',
        password: 'battery staple',
      }).toString(),
    });
    expect(response.status).toBe(403);
    expect(response.headers.get('set-cookie') ?? '').not.toContain('portcullis_session=');
  });

  it('tells a deactivated user so only after the right password', async () => {
    const user = await app.ctx.store.getUserByEmail('stored@example.com');
    if (!user) throw new Error('stored user missing');
    await app.ctx.store.updateUser({ ...user, active: false });
    try {
      const wrong = await post({ email: 'stored@example.com', password: 'nope' });
      expect(wrong.status).toBe(401);
      const right = await post({ email: 'stored@example.com', password: 'battery staple' });
      expect(right.status).toBe(403);
      expect(message(await right.text())).toContain('deactivated');
    } finally {
      await app.ctx.store.updateUser({ ...user, active: true });
      clock.advance(ACCOUNT_LIMIT.windowMs);
    }
  });
});

describe('password throttling', () => {
  it('locks an account after its budget, with a clear message, even for the right password, then lifts', async () => {
    for (let i = 0; i < ACCOUNT_LIMIT.limit; i++) {
      expect((await post({ email: 'stored@example.com', password: `guess${i}` })).status).toBe(401);
    }
    const locked = await post({ email: 'stored@example.com', password: 'battery staple' });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(message(await locked.text())).toMatch(
      /^Too many sign-in attempts for this account or from your network\. Try again in \d+ minutes?\.$/,
    );
    expect(locked.headers.get('set-cookie') ?? '').not.toContain('portcullis_session=');
    clock.advance(ACCOUNT_LIMIT.windowMs);
    expect((await post({ email: 'stored@example.com', password: 'battery staple' })).status).toBe(
      303,
    );
  });

  it('locks an unknown account the same way (the lockout does not reveal who exists)', async () => {
    for (let i = 0; i < ACCOUNT_LIMIT.limit; i++) {
      expect((await post({ email: 'ghost@example.com', password: `guess${i}` })).status).toBe(401);
    }
    expect((await post({ email: 'ghost@example.com', password: 'x' })).status).toBe(429);
    clock.advance(ACCOUNT_LIMIT.windowMs);
  });

  it('locks one client address that tries many accounts, and only that address', async () => {
    const ip = freshIp();
    for (let i = 0; i < IP_LIMIT.limit; i++) {
      expect(
        (await post({ email: `spray${i}@example.com`, password: 'Summer2024!' }, ip)).status,
      ).toBe(401);
    }
    const locked = await post({ email: 'stored@example.com', password: 'battery staple' }, ip);
    expect(locked.status).toBe(429);
    expect((await post({ email: 'stored@example.com', password: 'battery staple' })).status).toBe(
      303,
    );
    clock.advance(IP_LIMIT.windowMs);
  });

  it('cuts a concurrent burst off at the budget: throttled, not crashed', async () => {
    const answers = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        post({ email: 'stored@example.com', password: `burst${i}` }, freshIp()),
      ),
    );
    const statuses = answers.map((a) => a.status);
    await Promise.all(answers.map((a) => a.arrayBuffer()));
    expect(statuses.filter((s) => s === 401)).toHaveLength(ACCOUNT_LIMIT.limit);
    expect(statuses.filter((s) => s === 429)).toHaveLength(80 - ACCOUNT_LIMIT.limit);
    clock.advance(ACCOUNT_LIMIT.windowMs);
    expect((await post({ email: 'stored@example.com', password: 'battery staple' })).status).toBe(
      303,
    );
  });
});
