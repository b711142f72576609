import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { DEAD_LINK_MEMORY_MS } from '../../src/services/login-links.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * GET /auth/magic?token= tells a person at once why a link that cannot sign in does not work,
 * with the form for a new link, and never uses a link up (mail scanners fetch them).
 */

interface HostileToken {
  name: string;
  token?: string;
  repeat?: { char: string; times: number };
}
const HOSTILE = (
  JSON.parse(
    readFileSync(new URL('../fixtures/dead-link-tokens.json', import.meta.url), 'utf8'),
  ) as { cases: HostileToken[] }
).cases.map((c) => ({
  name: c.name,
  token: c.repeat ? c.repeat.char.repeat(c.repeat.times) : (c.token ?? ''),
}));

const CSRF = 'k'.repeat(43);
const TTL_MS = 15 * 60_000;

describe('dead magic links are told at once', () => {
  const clock = new ManualClock();
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({}, { clock });
  });
  afterAll(async () => {
    await app.close();
  });

  const tokenOf = (url: string) => new URL(url).searchParams.get('token') as string;
  const open = async (token: string) => {
    const response = await fetch(`${app.url}/auth/magic?token=${encodeURIComponent(token)}`, {
      redirect: 'manual',
    });
    return { status: response.status, html: await response.text() };
  };
  const redeem = (token: string) =>
    fetch(`${app.url}/auth/magic`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_csrf=${CSRF}`,
      },
      body: new URLSearchParams({ token, csrf: CSRF }).toString(),
    });
  const emailField = (html: string) => /<input id="magic-email"[^>]*>/.exec(html)?.[0] ?? '';
  const filledWith = (html: string) => /value="([^"]*)"/.exec(emailField(html))?.[1];
  const address = () => `p${randomBytes(4).toString('hex')}@example.com`;

  function expectNewLinkForm(html: string): void {
    expect(html).toContain(`<form method="post" action="/auth/magic_link"`);
    expect(html).toContain('<button type="submit">Send me a new link</button>');
    expect(html).toMatch(/<input type="hidden" name="csrf" value="[A-Za-z0-9_-]{43}">/);
    expect(html).not.toContain('Confirm sign-in');
    expect(html).not.toContain('action="/auth/magic"');
  }

  it('a live link still gets the confirm page, however often it is opened, and then signs in', async () => {
    const email = address();
    const token = tokenOf(await app.ctx.loginLinks.issue(email, '/after'));
    for (let i = 0; i < 3; i += 1) {
      const page = await open(token);
      expect(page.status).toBe(200);
      expect(page.html).toContain('Confirm sign-in');
      expect(page.html).toContain(`Sign in as ${email}`);
    }
    const used = await redeem(token);
    expect(used.status).toBe(303);
    expect(used.headers.get('location')).toBe('/after');
  });

  it('a used link says so (410), with an empty form: only a mark of its use is left', async () => {
    const token = tokenOf(await app.ctx.loginLinks.issue(address(), '/'));
    expect((await redeem(token)).status).toBe(303);
    const page = await open(token);
    expect(page.status).toBe(410);
    expect(page.html).toContain('This link was already used — each link works once');
    expect(page.html).toContain('role="alert"');
    expectNewLinkForm(page.html);
    expect(filledWith(page.html)).toBe('');
    // SPEC §3: a dead token on POST is still a 303 to the login page with a message.
    const again = await redeem(token);
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toBe('/auth/login?error=link_used');
  });

  it('an expired link says so with the lifetime (410) and fills in the address it was for', async () => {
    const email = address();
    const token = tokenOf(await app.ctx.loginLinks.issue(email, '/notes'));
    clock.advance(TTL_MS);
    const page = await open(token);
    expect(page.status).toBe(410);
    expect(page.html).toContain('This link expired (links last 15 minutes)');
    expectNewLinkForm(page.html);
    expect(filledWith(page.html)).toBe(email);
    expect(page.html).toContain('<input type="hidden" name="rd" value="/notes">');
    // Reading it left it as it was: still expired (not used, not gone), and POST still refuses.
    expect((await open(token)).html).toContain('This link expired');
    expect((await redeem(token)).headers.get('location')).toBe('/auth/login?error=link_used');
  });

  it('an expired link is remembered for a day, then is simply not valid', async () => {
    const token = tokenOf(await app.ctx.loginLinks.issue(address(), '/'));
    clock.advance(TTL_MS + DEAD_LINK_MEMORY_MS - 1);
    expect((await open(token)).status).toBe(410);
    clock.advance(1);
    const page = await open(token);
    expect(page.status).toBe(404);
    expect(page.html).toContain('This link is not valid');
  });

  it('a link voided by a newer one for the same address says it was replaced (410)', async () => {
    const email = address();
    const older = tokenOf(await app.ctx.loginLinks.issue(email, '/'));
    const newer = tokenOf(await app.ctx.loginLinks.issue(email, '/'));
    const page = await open(older);
    expect(page.status).toBe(410);
    expect(page.html).toContain('This link was replaced by a newer one');
    expect(filledWith(page.html)).toBe(email);
    expect((await open(newer)).status).toBe(200);
  });

  it('a well-formed link nobody issued is not valid (404), with an empty form', async () => {
    const page = await open(randomBytes(32).toString('base64url'));
    expect(page.status).toBe(404);
    expect(page.html).toContain('This link is not valid');
    expectNewLinkForm(page.html);
    expect(filledWith(page.html)).toBe('');
  });

  it('a link for an address with an account and one without look the same', async () => {
    const known = 'known-account@example.com';
    await app.login(known);
    const stranger = 'no-account-here@example.com';
    const pages = [];
    for (const email of [known, stranger]) {
      const token = tokenOf(await app.ctx.loginLinks.issue(email, '/'));
      clock.advance(TTL_MS);
      const page = await open(token);
      pages.push({ status: page.status, html: page.html.replaceAll(email, 'ADDRESS') });
    }
    const [a, b] = pages as [{ status: number; html: string }, { status: number; html: string }];
    expect(a.status).toBe(b.status);
    const strip = (html: string) => html.replace(/value="[A-Za-z0-9_-]{43}"/g, 'value="CSRF"');
    expect(strip(a.html)).toBe(strip(b.html));
  });

  it('signed links (the CLI) tell used, expired and forged apart the same way', async () => {
    const email = address();
    const used = tokenOf(app.ctx.loginLinks.issueSigned(email, '/'));
    expect((await redeem(used)).status).toBe(303);
    const usedPage = await open(used);
    expect(usedPage.status).toBe(410);
    expect(usedPage.html).toContain('already used');
    expect(filledWith(usedPage.html)).toBe(email);

    const expiring = tokenOf(app.ctx.loginLinks.issueSigned(address(), '/'));
    clock.advance(TTL_MS);
    expect((await open(expiring)).html).toContain('This link expired');

    const live = tokenOf(app.ctx.loginLinks.issueSigned(address(), '/'));
    const forged = `${live.slice(0, -2)}${live.endsWith('AA') ? 'BB' : 'AA'}`;
    const page = await open(forged);
    expect(page.status).toBe(404);
    expect(page.html).toContain('This link is not valid');
    expect((await open(live)).status).toBe(200);
  });

  it.each(HOSTILE)(
    'garbage token ($name) is not valid at once (400), escaped',
    async ({ token }) => {
      const page = await open(token);
      expect(page.status).toBe(400);
      expect(page.html).toContain('This link is not valid');
      expectNewLinkForm(page.html);
      expect(filledWith(page.html)).toBe('');
      expect(page.html).not.toContain('<script>');
      expect(page.html).not.toContain(token.length > 3 ? token : '\u0000never');
    },
  );

  it('opening never uses a link up, whatever state it is read in', async () => {
    const token = tokenOf(await app.ctx.loginLinks.issue(address(), '/kept'));
    const scanners = await Promise.all(Array.from({ length: 20 }, () => open(token)));
    for (const page of scanners) expect(page.status).toBe(200);
    const used = await redeem(token);
    expect(used.status).toBe(303);
    expect(used.headers.get('location')).toBe('/kept');
  });
});
