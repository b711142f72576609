import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/core/password.js';
import {
  collectCspViolations,
  expectNoOverflow,
  launchChromium,
  SHOTS,
  screenshotDir,
  seriousAxeViolations,
} from '../helpers/browser.js';
import { oidcClientConfig, type SsoApp, startSsoApp } from '../helpers/oidc-provider.js';
import { freePort } from '../helpers/ports.js';

/**
 * Issue 15: the login page with every method on, in a real Chromium at desktop and phone sizes,
 * light and dark, with no serious axe-core violation: one email field, its choices, the
 * password step; and the signed-in landing. The providers are never contacted (only their
 * buttons are shown). Saves docs/screenshots/login*.png and signed-in.png with
 * UPDATE_SCREENSHOTS=1 (test-results/screenshots/ otherwise).
 */
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const PASSWORD = 's3cret pass';

describe('the login page in Chromium, every method on', { timeout: 120_000 }, () => {
  let browser: Browser;
  let app: SsoApp;
  let site = '';
  const violations: string[] = [];

  beforeAll(async () => {
    screenshotDir();
    browser = await launchChromium();
    const port = await freePort();
    site = `http://127.0.0.1:${port}`;
    // An issuer nobody answers at: discovery happens only when a button is used.
    const issuer = 'http://127.0.0.1:9';
    app = await startSsoApp(port, {
      admin: { emails: ['ann@example.com'] },
      auth: {
        enabled_auth: ['magic_link', 'basic', 'google_oauth', 'oidc', 'passkey'],
        magic_link: { mailer: 'log' },
        basic: {
          users: [{ email: 'ops@example.com', password_hash: await hashPassword(PASSWORD) }],
        },
        google_oauth: { issuer, client_id: 'google-id', client_secret: 'google-secret' },
        oidc: oidcClientConfig(issuer, { display_name: 'Company SSO' }),
        passkey: { rp_name: 'Notes' },
      },
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  async function open(
    viewport: { width: number; height: number },
    dark: boolean,
    session?: string,
  ): Promise<Page> {
    const context = await browser.newContext({
      viewport,
      colorScheme: dark ? 'dark' : 'light',
      // Only for injecting axe-core; the page's own CSP is asserted on the response.
      bypassCSP: true,
    });
    if (session) {
      await context.addCookies([
        { name: 'portcullis_session', value: session, domain: '127.0.0.1', path: '/' },
      ]);
    }
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    collectCspViolations(page, violations);
    return page;
  }

  const target = () => `${site}/notes/today?tab=2`;

  it.each([
    { name: 'login', viewport: DESKTOP, dark: false },
    { name: 'login-phone', viewport: PHONE, dark: false },
    { name: 'login-dark', viewport: DESKTOP, dark: true },
    { name: 'login-phone-dark', viewport: PHONE, dark: true },
  ])('$name: one email field with its choices, the other methods apart', async (shot) => {
    const page = await open(shot.viewport, shot.dark);
    const response = await page.goto(`${site}/auth/login?rd=${encodeURIComponent(target())}`);
    expect(response?.headers()['content-security-policy']).not.toContain('unsafe-inline');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).waitFor();
    expect(await page.locator('input[type="email"]').count()).toBe(1);
    expect(await page.locator(':focus').getAttribute('id')).toBe('email');
    const buttons = await page.locator('main button:visible').allInnerTexts();
    expect(buttons).toEqual([
      'Email me a sign-in link',
      'Use my password',
      'Sign in with Google',
      'Sign in with Company SSO',
      'Sign in with a passkey',
    ]);
    await expectNoOverflow(page);
    await page.screenshot({ path: new URL(`${shot.name}.png`, SHOTS).pathname, fullPage: true });
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('"Use my password": the password step names the address, Enter signs in', async () => {
    const page = await open(PHONE, false);
    await page.goto(`${site}/auth/login?rd=${encodeURIComponent(`${site}/auth/me`)}#no-autofill`);
    await page.getByLabel('Email address').fill('ops@example.com');
    await page.getByRole('button', { name: 'Use my password' }).click();
    await page.getByLabel('Password').waitFor();
    expect(await page.locator(':focus').getAttribute('id')).toBe('password');
    expect(await page.locator('.chosen').textContent()).toContain('ops@example.com');
    await expectNoOverflow(page);
    await page.screenshot({ path: new URL('login-password.png', SHOTS).pathname, fullPage: true });
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${site}/auth/me`);
    expect(await page.locator('body').textContent()).toContain('"email":"ops@example.com"');
    await page.context().close();
  });

  it('Enter in the email field sends the link (the first choice)', async () => {
    const page = await open(DESKTOP, false);
    await page.goto(`${site}/auth/login#no-autofill`);
    await page.getByLabel('Email address').fill('reader@example.com');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    await page.context().close();
  });

  it.each([
    { name: 'signed-in', viewport: DESKTOP, dark: false },
    { name: 'signed-in-phone-dark', viewport: PHONE, dark: true },
  ])('$name: who is signed in and where to go, no form', async (shot) => {
    const link = await app.ctx.loginLinks.issue('ann@example.com', '/');
    const page = await open(shot.viewport, shot.dark);
    await page.goto(link);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => !url.pathname.startsWith('/auth/magic'));
    await page.goto(`${site}/auth/login?rd=${encodeURIComponent(target())}`);
    await page.getByRole('heading', { name: 'Signed in' }).waitFor();
    // biome-ignore lint/performance/useDomNodeTextContent: the text as rendered is what a person reads
    const text = await page.locator('main').innerText();
    expect(text).toContain("You're signed in as ann@example.com.");
    expect(await page.locator('input[type="email"]').count()).toBe(0);
    const go = page.getByRole('link', { name: 'Continue to 127.0.0.1' });
    expect(await go.getAttribute('href')).toBe(target());
    await page.getByRole('link', { name: 'Admin panel' }).waitFor();
    await page.getByRole('link', { name: 'Your account' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await expectNoOverflow(page);
    await page.screenshot({ path: new URL(`${shot.name}.png`, SHOTS).pathname, fullPage: true });
    expect(await seriousAxeViolations(page)).toEqual([]);
    // "Sign in as someone else": signed out, on the form, with the way back kept.
    await page.getByRole('button', { name: 'Sign in as someone else' }).click();
    await page.waitForURL(`${site}/auth/login?info=signed_out&rd=${encodeURIComponent(target())}`);
    await page.getByLabel('Email address').waitFor();
    await page.context().close();
  });

  it('tripped no Content-Security-Policy', () => {
    expect(violations).toEqual([]);
  });
});
