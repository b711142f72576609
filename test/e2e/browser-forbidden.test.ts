import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  expectNoOverflow,
  launchChromium,
  SHOTS,
  screenshotDir,
  seriousAxeViolations,
} from '../helpers/browser.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

/**
 * Issue 15 in a real Chromium behind real nginx (examples/nginx/portcullis.conf): a signed-in
 * person a `groups: [admins]` rule refuses sees our page naming them (not nginx's), at desktop
 * and phone sizes, light and dark, with no serious axe-core violation; "Sign in as someone else"
 * ends the session and lands on the login page with the way back. Saves screenshots
 * (docs/screenshots/ with UPDATE_SCREENSHOTS=1).
 */

const EXAMPLE = new URL('../../examples/nginx/portcullis.conf', import.meta.url);
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 860 };

describe('the forbidden page in Chromium behind nginx', { timeout: 120_000 }, () => {
  let browser: Browser;
  let nginx: NginxServer;
  let app: TestApp;
  let upstream: EchoUpstream;
  let site = '';
  let port = 0;

  beforeAll(async () => {
    screenshotDir();
    browser = await launchChromium();
    port = await freePort();
    site = `http://127.0.0.1:${port}`;
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: site },
      access: {
        default_policy: 'authenticated',
        rules: [{ path: '/admin/**', groups: ['admins'] }],
      },
    });
    let conf = readFileSync(EXAMPLE, 'utf8');
    conf = conf.replace('server 127.0.0.1:4180;', `server 127.0.0.1:${new URL(app.url).port};`);
    conf = conf.replace('server 127.0.0.1:8080;', `server 127.0.0.1:${upstream.port};`);
    conf = conf.replace('listen 80;', `listen 127.0.0.1:${port};`);
    nginx = await startNginx(conf, [port]);
  });

  afterAll(async () => {
    await browser?.close();
    await nginx?.stop();
    await app?.close();
    await upstream?.close();
  });

  async function signedInPage(
    email: string,
    viewport: { width: number; height: number },
    dark: boolean,
  ): Promise<Page> {
    const cookie = await app.login(email);
    const context = await browser.newContext({
      viewport,
      colorScheme: dark ? 'dark' : 'light',
      // Only for injecting axe-core; the page's own CSP is asserted on the response.
      bypassCSP: true,
    });
    await context.addCookies([
      { name: 'portcullis_session', value: cookie, domain: '127.0.0.1', path: '/' },
    ]);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    return page;
  }

  it.each([
    { name: 'forbidden-desktop', viewport: DESKTOP, dark: false },
    { name: 'forbidden-phone', viewport: PHONE, dark: false },
    { name: 'forbidden-dark', viewport: DESKTOP, dark: true },
    { name: 'forbidden-phone-dark', viewport: PHONE, dark: true },
  ])('$name: names the account, with no serious accessibility violation', async (shot) => {
    const page = await signedInPage(
      'ann.longname-for-wrapping@example.com',
      shot.viewport,
      shot.dark,
    );
    const response = await page.goto(`${site}/admin/settings?tab=users`);
    expect(response?.status()).toBe(403);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    await expect(page.locator('h1').textContent()).resolves.toBe('Not allowed');
    // biome-ignore lint/performance/useDomNodeTextContent: the text as rendered (line breaks included) is what a person reads
    const text = await page.locator('main').innerText();
    expect(text).toContain('You are signed in as\nann.longname-for-wrapping@example.com');
    expect(text).toContain('members of the group admins');
    // The stylesheet loaded (absolute URL, allowed by the CSP): the button has its colour.
    // Strings, not functions: the tests compile without the DOM library.
    const background = await page
      .getByRole('button', { name: 'Sign in as someone else' })
      .evaluate('(el) => getComputedStyle(el).backgroundColor');
    expect(background).not.toBe('rgba(0, 0, 0, 0)');
    // Nothing wider than the screen.
    await expectNoOverflow(page);
    await page.screenshot({ path: new URL(`${shot.name}.png`, SHOTS).pathname, fullPage: true });
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('"Sign in as someone else" signs out and opens the login page with the way back', async () => {
    const page = await signedInPage('bob@example.com', DESKTOP, false);
    await page.goto(`${site}/admin/settings?tab=users`);
    await page.getByRole('button', { name: 'Sign in as someone else' }).click();
    await page.waitForURL(/\/auth\/login\?/);
    const url = new URL(page.url());
    expect(url.searchParams.get('rd')).toBe(`${site}/admin/settings?tab=users`);
    expect(url.searchParams.get('info')).toBe('signed_out');
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'portcullis_session')).toBeUndefined();
    // Signed out: the page now asks to sign in.
    const again = await page.goto(`${site}/admin/settings`);
    expect(again?.url()).toContain('/auth/login?rd=');
    await page.context().close();
  });

  it('"Sign out" ends the session', async () => {
    const page = await signedInPage('carl@example.com', PHONE, false);
    await page.goto(`${site}/admin/x`);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/auth\/login\?info=signed_out$/);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'portcullis_session')).toBeUndefined();
    await page.context().close();
  });
});
