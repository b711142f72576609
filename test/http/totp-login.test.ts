import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { hashPassword } from '../../src/core/password.js';
import { SECOND_FACTOR_LIMIT } from '../../src/services/second-factor.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * The TOTP second step of a `basic` sign-in, over real sockets with an injected clock. Codes
 * are computed from the enrolled secret with otpauth (not with our own core/totp.ts), so a
 * wrong period, digit count or base32 reading here fails the test.
 */
const CSRF = 't'.repeat(43);
const PASSWORD = 'correct horse battery';
const SESSION = 'portcullis_session';
const PENDING = 'portcullis_2fa';
let ipCounter = 0;

function codeAt(secret: string, at: number): string {
  return new TOTP({
    secret: Secret.fromBase32(secret),
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
  }).generate({ timestamp: at });
}

/** A browser's cookies for one app, updated from each answer's Set-Cookie. */
class Browser {
  readonly jar = new Map<string, string>([['portcullis_csrf', CSRF]]);
  readonly ip: string;
  constructor(private readonly app: () => TestApp) {
    ipCounter += 1;
    this.ip = `10.44.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`;
  }

  private header(): string {
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private remember(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = (pair as string).indexOf('=');
      const name = (pair as string).slice(0, at);
      const value = (pair as string).slice(at + 1);
      if (value === '' || /Max-Age=0/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  async get(path: string): Promise<{ status: number; body: string; response: Response }> {
    const response = await fetch(`${this.app().url}${path}`, {
      redirect: 'manual',
      headers: { cookie: this.header(), 'x-forwarded-for': this.ip },
    });
    this.remember(response);
    return { status: response.status, body: await response.text(), response };
  }

  async post(
    path: string,
    fields: Record<string, string>,
  ): Promise<{ status: number; body: string; response: Response }> {
    const response = await fetch(`${this.app().url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: this.header(),
        'x-forwarded-for': this.ip,
      },
      body: new URLSearchParams({ csrf: CSRF, ...fields }).toString(),
    });
    this.remember(response);
    return { status: response.status, body: await response.text(), response };
  }

  password(email: string, rd = '/dash', password = PASSWORD) {
    return this.post('/auth/basic', { email, password, rd });
  }
}

async function seedUser(app: TestApp, id: string, clock: ManualClock): Promise<void> {
  const user = await app.ctx.store.createUser({
    id,
    email: `${id}@example.com`,
    name: id,
    groups: [],
    active: true,
    verified: true,
    createdAt: clock.now(),
    lastLoginAt: null,
  });
  await app.ctx.store.updateUser({ ...user, passwordHash: await hashPassword(PASSWORD) });
}

/** Enrols TOTP through the service (not the pages) and returns the secret. */
async function enrol(app: TestApp, id: string, clock: ManualClock): Promise<string> {
  const begun = await app.ctx.secondFactors.beginTotpEnrolment({ id, email: `${id}@example.com` });
  if (!begun.ok) throw new Error('enrolment refused');
  const confirmed = await app.ctx.secondFactors.confirmTotpEnrolment(
    id,
    codeAt(begun.secret, clock.now()),
  );
  if (!confirmed.ok) throw new Error(`confirmation refused: ${confirmed.reason}`);
  // The confirming code's step is used up; later sign-ins start in the next one.
  clock.advance(30_000);
  return begun.secret;
}

async function amrOf(app: TestApp, browser: Browser): Promise<readonly string[]> {
  const cookie = browser.jar.get(SESSION);
  if (!cookie) throw new Error('no session cookie');
  const lookup = await app.ctx.sessions.resolve(cookie);
  if (lookup.kind !== 'valid') throw new Error('session not valid');
  return lookup.live.session.amr ?? [];
}

function alert(body: string): string {
  return /<p class="message error" role="alert">([^<]*)<\/p>/.exec(body)?.[1] ?? '';
}

describe('second_factor: optional', () => {
  const clock = new ManualClock(1_750_000_000_000);
  let app: TestApp;
  let secret: string;

  beforeAll(async () => {
    app = await startTestApp(
      { auth: { enabled_auth: ['magic_link', 'basic'], basic: { second_factor: 'optional' } } },
      { clock },
    );
    for (const id of ['plain', 'otp', 'replay', 'wrong', 'brute', 'expiry', 'recovery', 'race'])
      await seedUser(app, id, clock);
    secret = await enrol(app, 'otp', clock);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('signs a user without TOTP in with the password alone, amr [pwd] only', async () => {
    const browser = new Browser(() => app);
    const answer = await browser.password('plain@example.com');
    expect(answer.status).toBe(303);
    expect(answer.response.headers.get('location')).toBe('/dash');
    expect(browser.jar.has(PENDING)).toBe(false);
    expect(await amrOf(app, browser)).toEqual(['pwd']);
  });

  it('asks a user with TOTP for a code, with no session before it, and signs in with amr pwd+otp', async () => {
    const browser = new Browser(() => app);
    const answer = await browser.password('otp@example.com');
    expect(answer.status).toBe(303);
    expect(answer.response.headers.get('location')).toBe('/auth/totp');
    const setCookies = answer.response.headers.getSetCookie();
    expect(setCookies.some((line) => line.startsWith(`${SESSION}=`))).toBe(false);
    const pending = setCookies.find((line) => line.startsWith(`${PENDING}=`)) ?? '';
    expect(pending).toMatch(/HttpOnly/);
    expect(pending).toMatch(/SameSite=Strict/);
    expect(pending).toMatch(/Max-Age=300/);
    expect(browser.jar.has(SESSION)).toBe(false);

    const step = await browser.get('/auth/totp');
    expect(step.status).toBe(200);
    expect(step.body).toContain('Enter the 6-digit code from your authenticator app');
    expect(step.body).toMatch(/<label for="totp-code">/);
    expect(step.body).toMatch(
      /id="totp-code"[^>]*inputmode="numeric"[^>]*autocomplete="one-time-code"/,
    );
    expect(step.body).toContain('Use a recovery code');
    expect(step.body).not.toContain('passkey');
    expect(step.body).not.toMatch(/<script/);
    expect(step.response.headers.get('content-security-policy')).toContain("default-src 'none'");

    // Typed as the app shows it: "123 456", with stray spaces around.
    const code = codeAt(secret, clock.now());
    const done = await browser.post('/auth/totp', {
      code: ` ${code.slice(0, 3)} ${code.slice(3)} `,
    });
    expect(done.status).toBe(303);
    expect(done.response.headers.get('location')).toBe('/dash');
    expect(await amrOf(app, browser)).toEqual(['pwd', 'otp']);
    expect(browser.jar.has(PENDING)).toBe(false);
  });

  it('refuses a code already used in its time window, then takes the next one', async () => {
    const secretR = await enrol(app, 'replay', clock);
    const first = new Browser(() => app);
    await first.password('replay@example.com');
    const code = codeAt(secretR, clock.now());
    expect((await first.post('/auth/totp', { code })).status).toBe(303);

    const second = new Browser(() => app);
    await second.password('replay@example.com');
    const again = await second.post('/auth/totp', { code });
    expect(again.status).toBe(401);
    expect(alert(again.body)).toMatch(/already used/);
    expect(second.jar.has(SESSION)).toBe(false);
    clock.advance(30_000);
    const next = await second.post('/auth/totp', { code: codeAt(secretR, clock.now()) });
    expect(next.status).toBe(303);
    expect(await amrOf(app, second)).toEqual(['pwd', 'otp']);
  });

  it('refuses a wrong code with an alert and keeps the half-done sign-in for a retry', async () => {
    const secretW = await enrol(app, 'wrong', clock);
    const browser = new Browser(() => app);
    await browser.password('wrong@example.com');
    const right = codeAt(secretW, clock.now());
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    for (const typed of [wrong, `${right}0`, '１２３４５６']) {
      const answer = await browser.post('/auth/totp', { code: typed });
      expect(answer.status).toBe(401);
      expect(alert(answer.body)).toMatch(/not right/);
      expect(answer.body).toContain('aria-invalid="true"');
      expect(browser.jar.has(SESSION)).toBe(false);
    }
    expect((await browser.post('/auth/totp', { code: right })).status).toBe(303);
    expect(await amrOf(app, browser)).toEqual(['pwd', 'otp']);
  });

  it('throttles guessing per user across half-done sign-ins; the right code waits too', async () => {
    const secretB = await enrol(app, 'brute', clock);
    const browser = new Browser(() => app);
    await browser.password('brute@example.com');
    let limited: { status: number; body: string; response: Response } | null = null;
    for (let i = 0; i < SECOND_FACTOR_LIMIT.limit + 1; i++) {
      const answer = await browser.post('/auth/totp', { code: String(100000 + i) });
      if (answer.status === 429) {
        limited = answer;
        break;
      }
      expect(answer.status).toBe(401);
    }
    expect(limited?.status).toBe(429);
    expect(Number(limited?.response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(alert(limited?.body ?? '')).toMatch(/Too many attempts/);
    // A fresh password sign-in (another browser) does not reset the budget, nor does the right code.
    const other = new Browser(() => app);
    expect((await other.password('brute@example.com')).status).toBe(303);
    const right = await other.post('/auth/totp', { code: codeAt(secretB, clock.now()) });
    expect(right.status).toBe(429);
    expect(other.jar.has(SESSION)).toBe(false);
  });

  it('lets a half-done sign-in expire after five minutes', async () => {
    const secretE = await enrol(app, 'expiry', clock);
    const browser = new Browser(() => app);
    await browser.password('expiry@example.com');
    const pendingCookie = browser.jar.get(PENDING);
    clock.advance(5 * 60_000 + 1);
    const late = await browser.post('/auth/totp', { code: codeAt(secretE, clock.now()) });
    expect(late.status).toBe(401);
    expect(late.body).toContain('Sign in again');
    expect(browser.jar.has(SESSION)).toBe(false);
    // The page's GET says the same.
    browser.jar.set(PENDING, pendingCookie as string);
    expect((await browser.get('/auth/totp')).status).toBe(401);
  });

  it('uses a half-done sign-in once: the cookie replayed after success signs nobody in', async () => {
    const secretX = await enrol(app, 'race', clock);
    const browser = new Browser(() => app);
    await browser.password('race@example.com');
    const pendingCookie = browser.jar.get(PENDING) as string;
    expect((await browser.post('/auth/totp', { code: codeAt(secretX, clock.now()) })).status).toBe(
      303,
    );
    clock.advance(30_000);
    const thief = new Browser(() => app);
    thief.jar.set(PENDING, pendingCookie);
    const replay = await thief.post('/auth/totp', { code: codeAt(secretX, clock.now()) });
    expect(replay.status).toBe(401);
    expect(thief.jar.has(SESSION)).toBe(false);
    // A made-up or a magic-link token in the cookie is no half-done sign-in either.
    const link = new URL(await app.ctx.loginLinks.issue('race@example.com', '/'));
    thief.jar.set(PENDING, link.searchParams.get('token') as string);
    expect((await thief.post('/auth/totp', { code: '123456' })).status).toBe(401);
    thief.jar.set(PENDING, 'A'.repeat(43));
    expect((await thief.get('/auth/totp')).status).toBe(401);
    expect(thief.jar.has(SESSION)).toBe(false);
  });

  it('accepts each recovery code once', async () => {
    const begun = await app.ctx.secondFactors.beginTotpEnrolment({
      id: 'recovery',
      email: 'recovery@example.com',
    });
    if (!begun.ok) throw new Error('enrolment refused');
    const confirmed = await app.ctx.secondFactors.confirmTotpEnrolment(
      'recovery',
      codeAt(begun.secret, clock.now()),
    );
    if (!confirmed.ok) throw new Error('confirmation refused');
    const [code] = confirmed.recoveryCodes as [string];

    const browser = new Browser(() => app);
    await browser.password('recovery@example.com');
    const used = await browser.post('/auth/totp/recovery', {
      recovery_code: ` ${code.toUpperCase()} `,
    });
    expect(used.status).toBe(303);
    expect(await amrOf(app, browser)).toEqual(['pwd', 'otp']);

    const again = new Browser(() => app);
    await again.password('recovery@example.com');
    const refused = await again.post('/auth/totp/recovery', { recovery_code: code });
    expect(refused.status).toBe(401);
    expect(alert(refused.body)).toMatch(/recovery code/);
    expect(refused.body).toMatch(/<details open>/);
    expect(again.jar.has(SESSION)).toBe(false);
    expect((await app.ctx.secondFactors.status('recovery')).recoveryCodesLeft).toBe(9);
  });

  it('sets TOTP up for a signed-in user at /auth/totp/setup without raising the session', async () => {
    const cookie = await app.login('plain@example.com');
    const browser = new Browser(() => app);
    browser.jar.set(SESSION, cookie);
    const shown = await browser.get('/auth/totp/setup');
    expect(shown.status).toBe(200);
    expect(shown.body).toMatch(/<svg width="200" height="200" role="img"/);
    const secretS = (
      /<code class="secret address">([A-Z2-7 ]+)<\/code>/.exec(shown.body)?.[1] ?? ''
    ).replace(/ /g, '');
    const csrf = /name="csrf" value="([^"]+)"/.exec(shown.body)?.[1] as string;
    const done = await browser.post('/auth/totp/setup', {
      csrf,
      code: codeAt(secretS, clock.now()),
    });
    expect(done.status).toBe(200);
    expect(done.response.headers.get('cache-control')).toBe('no-store');
    expect(
      done.body.match(/<li><code>[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{2}<\/code><\/li>/g),
    ).toHaveLength(10);
    expect(done.body).toContain('href="/auth/account"');
    expect(await amrOf(app, browser)).toEqual(['link']);
    expect((await app.ctx.secondFactors.status(/* plain's id */ 'plain')).totp).toBe('confirmed');
    // Signed out, the page sends people to sign in first.
    const stranger = await new Browser(() => app).get('/auth/totp/setup');
    expect(stranger.status).toBe(303);
    expect(stranger.response.headers.get('location')).toMatch(/^\/auth\/login\?rd=/);
  });
});

describe('second_factor: required', () => {
  const clock = new ManualClock(1_760_000_000_000);
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(
      {
        auth: {
          enabled_auth: ['magic_link', 'basic', 'passkey'],
          basic: { second_factor: 'required' },
        },
      },
      { clock },
    );
    for (const id of ['newbie', 'typo', 'keyholder']) await seedUser(app, id, clock);
    await app.ctx.store.createPasskey({
      id: 'cred-keyholder',
      userId: 'keyholder',
      publicKey: 'pQECAyYgASFYIA',
      counter: 0,
      transports: ['internal'],
      deviceType: 'singleDevice',
      backedUp: false,
      name: 'Laptop',
      createdAt: clock.now(),
      lastUsedAt: null,
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('enrols after the password, shows recovery codes once, then starts a pwd+otp session', async () => {
    const browser = new Browser(() => app);
    const answer = await browser.password('newbie@example.com');
    expect(answer.status).toBe(303);
    expect(answer.response.headers.get('location')).toBe('/auth/totp/enrol');
    expect(browser.jar.has(SESSION)).toBe(false);

    const page = await browser.get('/auth/totp/enrol');
    expect(page.status).toBe(200);
    expect(page.body).toMatch(
      /<svg width="200" height="200" role="img" aria-label="[^"]+" xmlns="http:\/\/www.w3.org\/2000\/svg"/,
    );
    expect(page.body).not.toMatch(/<script|<image|href="http/);
    const secret = (
      /<code class="secret address">([A-Z2-7 ]+)<\/code>/.exec(page.body)?.[1] ?? ''
    ).replace(/ /g, '');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(page.body).toMatch(/autocomplete="one-time-code"/);

    const codes = await browser.post('/auth/totp/enrol', { code: codeAt(secret, clock.now()) });
    expect(codes.status).toBe(200);
    expect(codes.response.headers.get('cache-control')).toBe('no-store');
    expect(codes.body.match(/<li><code>[^<]+<\/code><\/li>/g)).toHaveLength(10);
    expect(codes.body).toContain('I saved them — continue');
    expect(browser.jar.has(SESSION)).toBe(false);

    const go = await browser.post('/auth/totp/continue', {});
    expect(go.status).toBe(303);
    expect(go.response.headers.get('location')).toBe('/dash');
    expect(await amrOf(app, browser)).toEqual(['pwd', 'otp']);
    // "Continue" works once.
    const pendingGone = new Browser(() => app);
    expect((await pendingGone.post('/auth/totp/continue', {})).status).toBe(401);

    // Next time: the code page, not the enrolment.
    clock.advance(30_000);
    const later = new Browser(() => app);
    expect((await later.password('newbie@example.com')).response.headers.get('location')).toBe(
      '/auth/totp',
    );
    expect((await later.post('/auth/totp', { code: codeAt(secret, clock.now()) })).status).toBe(
      303,
    );
    expect(await amrOf(app, later)).toEqual(['pwd', 'otp']);
  });

  it('refuses a wrong confirmation code and keeps the secret already scanned', async () => {
    const browser = new Browser(() => app);
    await browser.password('typo@example.com');
    const page = await browser.get('/auth/totp/enrol');
    const secret = (
      /<code class="secret address">([A-Z2-7 ]+)<\/code>/.exec(page.body)?.[1] ?? ''
    ).replace(/ /g, '');
    const right = codeAt(secret, clock.now());
    const wrong = String((Number(right) + 7) % 1_000_000).padStart(6, '0');
    const refused = await browser.post('/auth/totp/enrol', { code: wrong });
    expect(refused.status).toBe(401);
    expect(alert(refused.body)).toMatch(/not right/);
    // No new QR code (that would be a new secret): the same one still confirms.
    expect(refused.body).not.toContain('<svg');
    expect((await browser.post('/auth/totp/enrol', { code: right })).status).toBe(200);
    expect(browser.jar.has(SESSION)).toBe(false);
  });

  it('asks a user with a passkey and no TOTP for the passkey, not for enrolment', async () => {
    const browser = new Browser(() => app);
    const answer = await browser.password('keyholder@example.com', '/');
    expect(answer.response.headers.get('location')).toBe('/auth/totp');
    const page = await browser.get('/auth/totp');
    expect(page.status).toBe(200);
    expect(page.body).toContain('href="/auth/login?rd=%2F&amp;step_up=passkey"');
    expect(page.body).not.toContain('totp-code');
    expect(browser.jar.has(SESSION)).toBe(false);
  });
});

describe('second_factor: off', () => {
  const clock = new ManualClock(1_770_000_000_000);
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(
      { auth: { enabled_auth: ['magic_link', 'basic'], basic: { second_factor: 'off' } } },
      { clock },
    );
    await seedUser(app, 'enrolled', clock);
    await enrol(app, 'enrolled', clock);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('signs in with the password alone even with a TOTP, and never says otp', async () => {
    const browser = new Browser(() => app);
    const answer = await browser.password('enrolled@example.com');
    expect(answer.status).toBe(303);
    expect(answer.response.headers.get('location')).toBe('/dash');
    expect(await amrOf(app, browser)).toEqual(['pwd']);
    expect((await browser.get('/auth/totp')).status).toBe(404);
    expect((await browser.get('/auth/totp/setup')).status).toBe(404);
  });
});
