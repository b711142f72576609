import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ResendServer, startResendServer } from '../helpers/mail.js';
import { type LoggedApp, sessionCookieOf, startLoggedApp } from '../helpers/mail-app.js';

const ENV = (resend: ResendServer) => ({ RESEND_API_KEY: 're_key', RESEND_BASE_URL: resend.url });

/** The page with the one address typed replaced, so pages for different addresses compare. */
function normalised(body: string, email: string): string {
  return body.split(email).join('EMAIL');
}

describe('login page', () => {
  let app: LoggedApp;
  beforeAll(async () => {
    app = await startLoggedApp({
      server: { public_url: 'https://auth.example.com' },
      access: { rules: [{ host: 'notes.example.com', policy: 'authenticated' }] },
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('shows the email form with a label, CSRF field, the checked rd and a strict CSP', async () => {
    const response = await fetch(
      `${app.url}/auth/login?rd=${encodeURIComponent('https://notes.example.com/a?b=1')}`,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('set-cookie')).toMatch(
      // https: a __Host- cookie, which no sibling subdomain can plant (src/http/csrf.ts).
      /^__Host-portcullis_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    const body = await response.text();
    expect(body).toContain('<label for="email">Email address</label>');
    expect(body).toMatch(/<input id="email" name="email" type="email"[^>]*autocomplete="email"/);
    expect(body).toContain(
      '<button type="submit" formaction="/auth/magic_link" aria-describedby="magic_link-help">Email me a sign-in link</button>',
    );
    expect(body).toContain('name="rd" value="https://notes.example.com/a?b=1"');
    expect(body).toMatch(/name="csrf" value="[A-Za-z0-9_-]{43}"/);
    expect(body).toContain('<meta name="viewport"');
    expect(body).not.toContain('<script');
  });

  it('drops an rd that points elsewhere', async () => {
    for (const rd of [
      'https://evil.com/',
      '//evil.com',
      'https://notes.example.com.evil.com/',
      'javascript:alert(1)',
    ]) {
      const body = await (await fetch(`${app.url}/auth/login?rd=${encodeURIComponent(rd)}`)).text();
      expect(body).toContain('name="rd" value="/"');
    }
  });

  it.each([
    ['link_used', 'error', 'already used or has expired'],
    ['signed_out', 'info', 'You are signed out.'],
    ['not_allowed', 'error', 'not allowed to sign in'],
  ])('shows the %s message', async (code, kind, text) => {
    const param = kind === 'info' ? 'info' : 'error';
    const body = await (await fetch(`${app.url}/auth/login?${param}=${code}`)).text();
    expect(body).toContain(text);
    expect(body).toContain(
      `class="message ${kind}" role="${kind === 'error' ? 'alert' : 'status'}"`,
    );
  });

  it('escapes what it echoes', async () => {
    const response = await app.askForLink('"><script>alert(1)</script>@x.com');
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).not.toContain('<script>');
    expect(body).toContain('&quot;&gt;&lt;script&gt;');
  });

  it('says who is signed in when a session exists', async () => {
    const link = await app.ctx.loginLinks.issue('ivy@example.com', '/');
    const cookie = sessionCookieOf(await app.redeem(link));
    const body = await (
      await fetch(`${app.url}/auth/login`, { headers: { cookie: `portcullis_session=${cookie}` } })
    ).text();
    expect(body).toContain('You\'re signed in as <strong class="email">ivy@example.com</strong>');
  });
});

describe('POST /auth/magic_link: admission and bad input', () => {
  let resend: ResendServer;
  let open: LoggedApp;
  let invite: LoggedApp;
  let domains: LoggedApp;
  beforeAll(async () => {
    resend = await startResendServer();
    const magic = { mailer: 'resend' };
    [open, invite, domains] = await Promise.all([
      startLoggedApp({ auth: { magic_link: magic, signup: 'open' } }, { env: ENV(resend) }),
      startLoggedApp({ auth: { magic_link: magic, signup: 'invite_only' } }, { env: ENV(resend) }),
      startLoggedApp(
        {
          auth: {
            magic_link: magic,
            signup: 'allowed_domains',
            allowed_domains: ['corp.example', '*.corp.example'],
          },
        },
        { env: ENV(resend) },
      ),
    ]);
  });
  afterAll(async () => {
    await Promise.all([open?.close(), invite?.close(), domains?.close()]);
    await resend?.close();
  });

  const mailsTo = (to: string) =>
    resend.requests.filter((r) => JSON.stringify(r.body.to).includes(to)).length;

  it('open: creates an unverified user and sends the link', async () => {
    const response = await open.askForLink('new.person@example.com');
    expect(response.status).toBe(200);
    await resend.waitForMailTo('new.person@example.com');
    expect(await open.ctx.store.getUserByEmail('new.person@example.com')).toMatchObject({
      verified: false,
      active: true,
      lastLoginAt: null,
    });
  });

  it('invite_only: the same page for a known and an unknown address; only the known one gets mail', async () => {
    await invite.ctx.users.findOrCreate('known@example.com');
    const known = await invite.askForLink('known@example.com');
    const unknown = await invite.askForLink('stranger@example.com');
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(normalised(await known.text(), 'known@example.com')).toBe(
      normalised(await unknown.text(), 'stranger@example.com'),
    );
    await resend.waitForMailTo('known@example.com');
    expect(mailsTo('stranger@example.com')).toBe(0);
    expect(await invite.ctx.store.getUserByEmail('stranger@example.com')).toBeNull();
    expect(invite.logs.find((l) => l.event === 'magic_link_refused')).toMatchObject({
      email: 'stranger@example.com',
      reason: 'not_invited',
    });
  });

  it('allowed_domains: listed domains and their subdomains get links, others the same page and nothing', async () => {
    for (const email of ['a@corp.example', 'b@eu.corp.example']) {
      expect((await domains.askForLink(email)).status).toBe(200);
      await resend.waitForMailTo(email);
    }
    const refused = await domains.askForLink('c@corp.example.evil.com');
    expect(refused.status).toBe(200);
    expect(await refused.text()).toContain('Check your email');
    const lookalike = await domains.askForLink('d@evilcorp.example');
    expect(lookalike.status).toBe(200);
    expect(mailsTo('corp.example.evil.com') + mailsTo('evilcorp.example')).toBe(0);
    expect(await domains.ctx.store.getUserByEmail('c@corp.example.evil.com')).toBeNull();
  });

  it('a deactivated user gets the same page and no mail', async () => {
    const user = await open.ctx.users.findOrCreate('gone@example.com');
    await open.ctx.store.updateUser({ ...user, active: false });
    const response = await open.askForLink('gone@example.com');
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Check your email');
    expect(mailsTo('gone@example.com')).toBe(0);
  });

  it.each([
    ['two @', 'a@b@example.com'],
    ['no @', 'example.com'],
    ['Cyrillic look-alike', 'аdmin@example.com'],
    ['look-alike domain', 'admin@exаmple.com'],
    ['10 kB address', `${'x'.repeat(10_000)}@example.com`],
    ['empty', ''],
  ])('refuses an address with %s: 400, the form again, nothing created', async (_name, email) => {
    const before = resend.requests.length;
    const users = (await open.ctx.store.listUsers({ offset: 0, limit: 1 })).total;
    const response = await open.askForLink(email);
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).toContain('That is not an email address we can send to.');
    expect(body).toContain('Email me a sign-in link');
    expect(resend.requests.length).toBe(before);
    expect((await open.ctx.store.listUsers({ offset: 0, limit: 1 })).total).toBe(users);
  });

  it('refuses a body over 16 KiB with 413', async () => {
    const response = await fetch(`${open.url}/auth/magic_link`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_csrf=${'k'.repeat(43)}`,
      },
      body: `csrf=${'k'.repeat(43)}&email=${'x'.repeat(17_000)}`,
    });
    expect(response.status).toBe(413);
    expect(await response.text()).toContain('too large');
  });

  it('refuses a cross-site browser form with a missing or wrong CSRF token with 403 and does nothing', async () => {
    const before = resend.requests.length;
    const crossSite = { 'sec-fetch-site': 'cross-site' };
    const missing = await open.askForLink('csrf@example.com', { csrf: null, headers: crossSite });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain('reload the page');
    const wrong = await open.askForLink('csrf@example.com', {
      csrf: 'z'.repeat(43),
      headers: crossSite,
    });
    expect(wrong.status).toBe(403);
    const foreign = await fetch(`${open.url}/auth/magic_link`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_csrf=${'k'.repeat(43)}`,
        origin: 'https://evil.example.net',
      },
      body: new URLSearchParams({ email: 'csrf@example.com', csrf: 'k'.repeat(43) }).toString(),
    });
    expect(foreign.status).toBe(403);
    expect(resend.requests.length).toBe(before);
    expect(await open.ctx.store.getUserByEmail('csrf@example.com')).toBeNull();
  });

  it('binds the link to a safe rd only: an rd pointing elsewhere becomes /', async () => {
    const response = await open.askForLink('rd@example.com', {
      rd: 'https://evil.example.net/steal',
    });
    expect(response.status).toBe(200);
    const mail = await resend.waitForMailTo('rd@example.com');
    const redeemed = await open.redeem(mail.link as string);
    expect(redeemed.headers.get('location')).toBe('/');
  });
});

describe('POST /auth/magic_link: rate limits and timing', () => {
  let resend: ResendServer;
  let app: LoggedApp;
  beforeAll(async () => {
    resend = await startResendServer();
    app = await startLoggedApp(
      { auth: { magic_link: { mailer: 'resend' }, signup: 'invite_only' } },
      { env: ENV(resend) },
    );
  });
  afterAll(async () => {
    await app?.close();
    await resend?.close();
  });

  it('limits one address to 5 links per 15 minutes and says when to try again', async () => {
    await app.ctx.users.findOrCreate('busy@example.com');
    for (let i = 0; i < 5; i++) {
      expect((await app.askForLink('busy@example.com', { ip: `10.0.0.${i + 1}` })).status).toBe(
        200,
      );
    }
    const limited = await app.askForLink('BUSY@example.com', { ip: '10.0.0.99' });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    const minutes = Math.max(1, Math.ceil(retryAfter / 60));
    const body = await limited.text();
    expect(body).toContain(`Try again in ${minutes} minute`);
    expect(body).toContain('value="BUSY@example.com"');
    await resend.waitForMailTo('busy@example.com', 5);
    expect(resend.requests.filter((r) => JSON.stringify(r.body.to).includes('busy@')).length).toBe(
      5,
    );
    // Another address is not affected.
    expect((await app.askForLink('other@example.com', { ip: '10.0.0.99' })).status).toBe(200);
  });

  it('limits one client IP to 30 requests per 15 minutes, whatever the addresses', async () => {
    const answers = await Promise.all(
      Array.from({ length: 31 }, (_, i) =>
        app.askForLink(`ip-${i}@example.com`, { ip: '192.0.2.7' }),
      ),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
    expect((await app.askForLink('ip-x@example.com', { ip: '192.0.2.8' })).status).toBe(200);
  });

  it('answers a refused address as slowly as a known one, even when mail is slow', async () => {
    resend.setDelay(250);
    try {
      await app.ctx.users.findOrCreate('timed@example.com');
      const time = async (email: string, ip: string) => {
        const started = performance.now();
        const response = await app.askForLink(email, { ip });
        expect(response.status).toBe(200);
        return performance.now() - started;
      };
      // Warm up: the pacer learns how long a real send takes.
      for (let i = 0; i < 3; i++) await time('timed@example.com', `198.51.100.${i}`);
      const known: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 4; i++) {
        // Different IPs and addresses so no limit interferes; the known address has 5 a window.
        if (i < 2) known.push(await time('timed@example.com', `198.51.100.${10 + i}`));
        unknown.push(await time(`nobody-${i}@example.com`, `198.51.100.${20 + i}`));
      }
      const median = (xs: number[]) =>
        [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
      // Without padding a refused address answers in a few ms; with it, about one send.
      expect(Math.min(...unknown)).toBeGreaterThan(200);
      expect(Math.abs(median(known) - median(unknown))).toBeLessThan(150);
    } finally {
      resend.setDelay(0);
    }
  });
});
