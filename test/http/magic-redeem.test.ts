import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

const CSRF = 'k'.repeat(43);

describe('one-time login links', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: 'https://auth.example.com' },
      session: { cookie_domain: '.example.com' },
    });
  });
  afterAll(async () => {
    await app.close();
  });

  const tokenOf = (url: string) => new URL(url).searchParams.get('token') as string;
  const redeem = (
    token: string,
    csrf = CSRF,
    cookie = `portcullis_csrf=${CSRF}`,
    browser: Record<string, string> = {},
  ) =>
    fetch(`${app.url}/auth/magic`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...browser },
      body: new URLSearchParams({ token, csrf }).toString(),
    });

  it('shows a confirm page on GET and does not use the token', async () => {
    const url = await app.ctx.loginLinks.issue(
      'carol@example.com',
      'https://app.example.com/notes',
    );
    const page = await fetch(`${app.url}/auth/magic?token=${encodeURIComponent(tokenOf(url))}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<form method="post"');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const first = await redeem(tokenOf(url));
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('https://app.example.com/notes');
    const cookie = first.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(
      /portcullis_session=[^;]+; Path=\/; Max-Age=\d+; Domain=\.example\.com; HttpOnly; Secure; SameSite=Lax/,
    );
  });

  it('names the account on the confirm page, escaped, so a forwarded link shows whose it is', async () => {
    for (const [email, shown] of [
      ['alice@example.com', 'alice@example.com'],
      ['"<b>x</b>"@example.com', '&quot;&lt;b&gt;x&lt;/b&gt;&quot;@example.com'],
    ] as const) {
      const token = tokenOf(await app.ctx.loginLinks.issue(email, '/'));
      const page = await fetch(`${app.url}/auth/magic?token=${encodeURIComponent(token)}`);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain(`You are signing in as <strong>${shown}</strong>`);
      expect(html).not.toContain('<b>x</b>');
    }
    const signed = tokenOf(app.ctx.loginLinks.issueSigned('signed@example.com', '/'));
    const page = await fetch(`${app.url}/auth/magic?token=${encodeURIComponent(signed)}`);
    expect(await page.text()).toContain(
      'You are signing in as <strong>signed@example.com</strong>',
    );
  });

  it('says at once on GET that a used, unknown or forged link no longer works, and GET never uses one up', async () => {
    const used = tokenOf(await app.ctx.loginLinks.issue('used@example.com', '/'));
    expect((await redeem(used)).status).toBe(303);
    const fresh = tokenOf(await app.ctx.loginLinks.issue('fresh@example.com', '/'));
    // The dead-link page itself (which words, which status) is test/http/magic-dead-links.test.ts.
    for (const [token, status] of [
      [used, 410],
      ['nope', 400],
      ['s1.eyJlIjoiYUBiLmMifQ.AAAA', 400],
      ['x'.repeat(3000), 400],
      ['', 400],
    ] as const) {
      const page = await fetch(`${app.url}/auth/magic?token=${encodeURIComponent(token)}`, {
        redirect: 'manual',
      });
      expect(page.status).toBe(status);
      expect(await page.text()).toContain('Send me a new link');
    }
    for (let i = 0; i < 3; i++) {
      const page = await fetch(`${app.url}/auth/magic?token=${encodeURIComponent(fresh)}`);
      expect(page.status).toBe(200);
      await page.arrayBuffer();
    }
    expect((await redeem(fresh)).headers.get('set-cookie')).toContain('portcullis_session=');
  });

  it('works once: a second use lands on the login page with a message', async () => {
    const token = tokenOf(await app.ctx.loginLinks.issue('dave@example.com', '/'));
    expect((await redeem(token)).status).toBe(303);
    const again = await redeem(token);
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toBe('/auth/login?error=link_used');
    expect(again.headers.get('set-cookie')).toBeNull();
    const login = await fetch(`${app.url}/auth/login?error=link_used`);
    expect(await login.text()).toContain('already used or has expired');
  });

  it('lets exactly one of two concurrent uses win', async () => {
    const token = tokenOf(await app.ctx.loginLinks.issue('erin@example.com', '/'));
    const results = await Promise.all([redeem(token), redeem(token), redeem(token)]);
    const winners = results.filter((r) =>
      (r.headers.get('set-cookie') ?? '').includes('portcullis_session='),
    );
    expect(winners).toHaveLength(1);
  });

  it('refuses a browser POST from elsewhere without the CSRF cookie or with a mismatched field, and leaves the token usable', async () => {
    const token = tokenOf(await app.ctx.loginLinks.issue('frank@example.com', '/'));
    const crossSite = { 'sec-fetch-site': 'cross-site' };
    expect((await redeem(token, CSRF, '', crossSite)).status).toBe(403);
    expect((await redeem(token, 'x'.repeat(43), undefined, crossSite)).status).toBe(403);
    // An older browser that sends Origin but no Sec-Fetch-Site needs the token even from our origin.
    const oldBrowser = { origin: 'https://auth.example.com' };
    expect((await redeem(token, CSRF, '', oldBrowser)).status).toBe(403);
    const ok = await redeem(token);
    expect(ok.headers.get('set-cookie')).toContain('portcullis_session=');
  });

  it('sends a hostile rd to / instead', async () => {
    for (const rd of [
      'https://evil.com/',
      '//evil.com',
      'https://example.com.evil.com/',
      'javascript:alert(1)',
    ]) {
      const token = tokenOf(await app.ctx.loginLinks.issue('gina@example.com', rd));
      const response = await redeem(token);
      expect(response.headers.get('location')).toBe('/');
    }
  });

  it('refuses unknown, forged and oversized tokens', async () => {
    for (const token of ['nope', 's1.eyJlIjoiYUBiLmMifQ.AAAA', 'x'.repeat(3000), '']) {
      const response = await redeem(token);
      expect(response.headers.get('location')).toBe('/auth/login?error=link_used');
    }
  });
});
