import { Secret, TOTP, URI } from 'otpauth';
import { pino } from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/core/clock.js';
import { hashPassword } from '../../src/core/password.js';
import { TEST_SECRET, writeConfig } from '../helpers/app.js';
import {
  closeBrowser,
  launchChromium,
  openPage,
  SHOTS,
  screenshotDir,
} from '../helpers/browser.js';
import { freePort } from '../helpers/ports.js';

/**
 * TOTP for password sign-ins in a real Chromium with JavaScript off and the CSP enforced
 * (`auth.basic.second_factor: required`): the password leads to the set-up page, the QR code
 * there holds the otpauth URI of the key printed beside it, the first code turns TOTP on, the
 * recovery codes are shown once, and the next sign-in asks for a code. The clock is injected so
 * each sign-in can use a fresh time step. Screenshots: docs/screenshots/ with
 * UPDATE_SCREENSHOTS=1, test-results/screenshots/ otherwise.
 */

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const EMAIL = 'sam@example.com';
const PASSWORD = 'tr0ub4dor & 3';

describe('TOTP second factor (Chromium, no JavaScript)', { timeout: 120_000 }, () => {
  const clock = new ManualClock(Date.now());
  let browser: Browser;
  let app: App;
  let site: string;
  const contexts: BrowserContext[] = [];
  const violations: string[] = [];
  /** The URI read off the set-up page's QR code, for the codes of later steps. */
  let enrolled: TOTP | null = null;

  async function newPage(viewport = DESKTOP): Promise<Page> {
    const page = await openPage(browser, { viewport, javaScriptEnabled: false }, violations);
    contexts.push(page.context());
    return page;
  }

  async function signInWithPassword(page: Page): Promise<void> {
    await page.goto(`${site}/auth/login?rd=${encodeURIComponent(`${site}/auth/me`)}`);
    await page.getByLabel('Email address').fill(EMAIL);
    await page.getByRole('button', { name: 'Use my password' }).click();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  async function sessionCookie(page: Page): Promise<string | undefined> {
    const cookies = await page.context().cookies();
    return cookies.find((cookie) => cookie.name === 'portcullis_session')?.value;
  }

  beforeAll(async () => {
    screenshotDir();
    browser = await launchChromium();
    const port = await freePort();
    site = `http://127.0.0.1:${port}`;
    const path = writeConfig({
      server: { public_url: site },
      ui: { product_name: 'Acme Login' },
      auth: {
        secret_key: TEST_SECRET,
        enabled_auth: ['magic_link', 'basic'],
        magic_link: { mailer: 'manual' },
        basic: { second_factor: 'required' },
      },
    });
    app = await startApp(loadConfig({ path, env: {} }), {
      clock,
      logger: pino({ level: 'silent' }),
      listen: { host: '127.0.0.1', port },
    });
    const user = await app.ctx.users.findOrCreate(EMAIL, 'Sam Example');
    if (!user) throw new Error('no user');
    await app.ctx.store.updateUser({ ...user, passwordHash: await hashPassword(PASSWORD) });
  });

  afterAll(async () => {
    await closeBrowser(browser, contexts);
    await app?.close();
  });

  it('enrols through the QR page after the password and lands signed in with pwd+otp', async () => {
    const page = await newPage();
    await signInWithPassword(page);
    await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
    expect(page.url()).toBe(`${site}/auth/totp/enrol`);
    expect(await sessionCookie(page)).toBeUndefined();

    // The QR code is the otpauth URI of the key printed beside it, drawn by the server.
    const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
    expect(await qr.isVisible()).toBe(true);
    const box = await qr.boundingBox();
    expect(box?.width).toBe(200);
    const key = ((await page.locator('code.secret').textContent()) ?? '').replace(/ /g, '');
    expect(key).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new TOTP({
      issuer: 'Acme Login',
      label: EMAIL,
      secret: Secret.fromBase32(key),
    }).toString();
    const drawn = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    const paths = (svg: string) => [...svg.matchAll(/ d="([^"]+)"/g)].map((m) => m[1]);
    const html = await page.content();
    const shown = html.slice(html.indexOf('<svg'), html.indexOf('</svg>'));
    expect(paths(shown).length).toBe(2);
    expect(paths(shown)).toEqual(paths(drawn));
    const parsed = URI.parse(uri);
    if (!(parsed instanceof TOTP)) throw new Error('not a TOTP URI');
    enrolled = parsed;

    await page.screenshot({ path: new URL('totp-setup.png', SHOTS).pathname, fullPage: true });
    await page
      .getByLabel('Code from your authenticator app')
      .fill(enrolled.generate({ timestamp: clock.now() }));
    await page.getByRole('button', { name: 'Turn on two-step verification' }).click();

    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    const codes = await page.locator('ul.recovery-codes code').allTextContents();
    expect(codes).toHaveLength(10);
    expect(await sessionCookie(page)).toBeUndefined();
    await page.screenshot({
      path: new URL('totp-recovery-codes.png', SHOTS).pathname,
      fullPage: true,
    });
    await page.getByRole('button', { name: 'I saved them — continue' }).click();
    await page.waitForURL(`${site}/auth/me`);
    const cookie = await sessionCookie(page);
    const lookup = await app.ctx.sessions.resolve(cookie as string);
    expect(lookup.kind === 'valid' && lookup.live.session.amr).toEqual(['pwd', 'otp']);
    expect(violations).toEqual([]);
  });

  it('signs in again with the password and a code from the app, on a phone', async () => {
    if (!enrolled) throw new Error('enrolment test did not run');
    clock.advance(30_000);
    const page = await newPage(PHONE);
    await signInWithPassword(page);
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    expect(page.url()).toBe(`${site}/auth/totp`);
    expect(await sessionCookie(page)).toBeUndefined();
    // A wrong code first: the alert is announced and the field marked.
    const right = enrolled.generate({ timestamp: clock.now() });
    const field = page.getByLabel('Enter the 6-digit code from your authenticator app');
    await field.fill(String((Number(right) + 1) % 1_000_000).padStart(6, '0'));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('alert').waitFor();
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: new URL('totp-code.png', SHOTS).pathname, fullPage: true });
    await field.fill(`${right.slice(0, 3)} ${right.slice(3)}`);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${site}/auth/me`);
    expect(await page.textContent('body')).toContain(EMAIL);
    expect(violations).toEqual([]);
  });
});
