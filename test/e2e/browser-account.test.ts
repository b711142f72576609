import { pino } from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { hashAppToken } from '../../src/core/app-token.js';
import { totpCode, totpStep } from '../../src/core/totp.js';
import { TEST_SECRET, writeConfig } from '../helpers/app.js';
import {
  closeBrowser,
  expectNoOverflow,
  launchChromium,
  openPage,
  SHOTS,
  screenshotDir,
} from '../helpers/browser.js';
import { freePort } from '../helpers/ports.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

/**
 * The account page in a real Chromium with JavaScript off and the page's CSP enforced: sign in
 * through a one-time link, create an app token and read it off the page, end a session that
 * another browser holds, then "sign out everywhere else"; on a desktop and a phone, light and
 * dark. Saves screenshots (docs/screenshots/ with UPDATE_SCREENSHOTS=1).
 */

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const ANDROID_FIREFOX = 'Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0';
const IPHONE_SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

describe('account page (Chromium, no JavaScript)', { timeout: 120_000 }, () => {
  let browser: Browser;
  let app: App;
  let site: string;
  const contexts: BrowserContext[] = [];
  /** Console lines about the CSP: the page must not trip it. */
  const violations: string[] = [];

  async function newPage(
    options: { viewport?: typeof DESKTOP; userAgent?: string; dark?: boolean } = {},
  ): Promise<Page> {
    const page = await openPage(
      browser,
      {
        viewport: options.viewport ?? DESKTOP,
        colorScheme: options.dark ? 'dark' : 'light',
        javaScriptEnabled: false,
        ...(options.userAgent ? { userAgent: options.userAgent } : {}),
      },
      violations,
    );
    contexts.push(page.context());
    return page;
  }

  /** Opens the account page signed out, then signs in with a one-time link as the rd leads back. */
  async function signIn(page: Page, email: string): Promise<void> {
    await page.goto(`${site}/auth/account`);
    expect(page.url()).toBe(`${site}/auth/login?rd=${encodeURIComponent(`${site}/auth/account`)}`);
    const link = await app.ctx.loginLinks.issue(email, `${site}/auth/account`);
    await page.goto(link);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${site}/auth/account`);
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
  }

  /** A script's request through Traefik's check, with the token as its only credential. */
  async function checkWith(token: string): Promise<number> {
    const response = await fetch(`${site}/auth/traefik`, {
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        'x-forwarded-method': 'GET',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'notes.example.com',
        'x-forwarded-uri': '/api/chat',
      },
    });
    return response.status;
  }

  async function createToken(page: Page, name: string, expiry: string): Promise<string> {
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Expires after').selectOption({ label: expiry });
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByRole('heading', { name: `Token “${name}” created` }).waitFor();
    const field = page.getByLabel('Your new token');
    const token = await field.inputValue();
    expect(token).toMatch(/^pcx_[A-Za-z0-9_-]{43,}$/);
    return token;
  }

  beforeAll(async () => {
    screenshotDir();
    browser = await launchChromium();
    const port = await freePort();
    site = `http://127.0.0.1:${port}`;
    const path = writeConfig({
      server: { public_url: site },
      auth: { secret_key: TEST_SECRET, magic_link: { mailer: 'manual' } },
    });
    app = await startApp(loadConfig({ path, env: {} }), {
      logger: pino({ level: 'silent' }),
      listen: { host: '127.0.0.1', port },
    });
    await app.ctx.users.findOrCreate('robin@example.com', 'Robin Example');
  });

  afterAll(async () => {
    await closeBrowser(browser, contexts);
    await app?.close();
  });

  it('desktop: create a token, end a session held elsewhere, then sign out everywhere else', async () => {
    const page = await newPage();
    await signIn(page, 'robin@example.com');
    // Two more devices of the same person.
    const phone = await newPage({ viewport: PHONE, userAgent: ANDROID_FIREFOX });
    await signIn(phone, 'robin@example.com');
    const tablet = await newPage({ viewport: PHONE, userAgent: IPHONE_SAFARI });
    await signIn(tablet, 'robin@example.com');

    await page.reload();
    await page.getByRole('heading', { name: 'Where you are signed in (3)' }).waitFor();
    const current = page.locator('tr[aria-current="true"]');
    expect(await current.textContent()).toMatch(/HeadlessChrome \d+ on Linux\s*this device/);
    expect(await current.textContent()).toContain('127.0.0.1 · Email link');
    expect(await current.getByRole('link', { name: 'Sign out' }).count()).toBe(1);

    const token = await createToken(page, 'Obsidian on my phone', '30 days');
    // The field has the focus so it can be copied at once; the secret is in no URL.
    expect(await page.locator(':focus').getAttribute('id')).toBe('issued-token');
    expect(page.url()).toBe(`${site}/auth/account`);
    const record = await app.ctx.store.findAppTokenByHash(hashAppToken(token));
    expect(record?.name).toBe('Obsidian on my phone');
    // The token read off the page lets a script through the check.
    expect(await checkWith(token)).toBe(200);
    const row = page.getByRole('row', { name: /Obsidian on my phone/ });
    expect(await row.textContent()).toContain('never');
    await expectNoOverflow(page);
    await page.screenshot({ path: new URL('account-desktop.png', SHOTS).pathname, fullPage: true });

    // End the Android session from here; that browser is signed out.
    await page
      .getByRole('button', { name: 'End the session on Firefox 128 on Android from 127.0.0.1' })
      .click();
    await page.waitForURL(`${site}/auth/account?done=session_ended`);
    expect(await page.getByRole('status').first().textContent()).toContain(
      'That session has ended',
    );
    await page.getByRole('heading', { name: 'Where you are signed in (2)' }).waitFor();
    await phone.goto(`${site}/auth/account`);
    expect(phone.url()).toContain('/auth/login?rd=');

    // "Sign out everywhere else" ends the iPhone's session and keeps this one.
    await page.getByRole('button', { name: 'Sign out everywhere else (1)' }).click();
    await page.waitForURL(`${site}/auth/account?done=others_ended`);
    await page.getByRole('heading', { name: 'Where you are signed in (1)' }).waitFor();
    await page.getByText('You are signed in on this device only.').waitFor();
    await tablet.goto(`${site}/auth/account`);
    expect(tablet.url()).toContain('/auth/login?rd=');
    await page.reload();
    expect(page.url()).toBe(`${site}/auth/account?done=others_ended`);

    // Revoke the token: gone from the list.
    await page.getByRole('button', { name: 'Revoke the token Obsidian on my phone' }).click();
    await page.waitForURL(`${site}/auth/account?done=token_revoked`);
    await page.getByText('You have no app tokens.').waitFor();
    expect((await app.ctx.store.getAppToken(record?.id ?? ''))?.revokedAt).not.toBeNull();
    expect(await checkWith(token)).toBe(401);
    expect(violations).toEqual([]);
  });

  it('phone, light and dark: the page fits 390 px and the login page links to it', async () => {
    const page = await newPage({ viewport: PHONE });
    await signIn(page, 'robin@example.com');
    const other = await newPage({ viewport: PHONE, userAgent: IPHONE_SAFARI });
    await signIn(other, 'robin@example.com');
    await createToken(page, 'Home Assistant', '90 days');
    await expectNoOverflow(page);
    await page.screenshot({ path: new URL('account-phone.png', SHOTS).pathname, fullPage: true });

    const dark = await newPage({ viewport: PHONE, dark: true });
    await signIn(dark, 'robin@example.com');
    await expectNoOverflow(dark);
    // Field order follows the page: name, then expiry, then the button.
    await dark.getByLabel('Name').focus();
    await dark.keyboard.press('Tab');
    expect(await dark.locator(':focus').getAttribute('id')).toBe('token-expiry');
    await dark.keyboard.press('Tab');
    expect(await dark.locator(':focus').textContent()).toBe('Create token');
    await dark.screenshot({ path: new URL('account-dark.png', SHOTS).pathname, fullPage: true });

    // Signed in, the login page names the user and links here.
    await dark.goto(`${site}/auth/login`);
    await dark.getByRole('link', { name: 'your account' }).click();
    await dark.waitForURL(`${site}/auth/account`);
    expect(violations).toEqual([]);
  });

  it('phone, dark: the passkeys section, renaming and removing with its confirmation page', async () => {
    // Its own instance with passkeys and passwords on (the other tests' sign-in would meet the
    // "sign in faster next time?" offer); the browser gets a session cookie made for it.
    const port = await freePort();
    const site = `http://127.0.0.1:${port}`;
    const app = await startApp(
      loadConfig({
        path: writeConfig({
          server: { public_url: site },
          auth: {
            secret_key: TEST_SECRET,
            enabled_auth: ['magic_link', 'passkey', 'basic'],
            magic_link: { mailer: 'manual' },
          },
        }),
        env: {},
      }),
      { logger: pino({ level: 'silent' }), listen: { host: '127.0.0.1', port } },
    );
    try {
      const user = await app.ctx.users.findOrCreate('sam@example.com', 'Sam Example');
      // Two passkeys made as a browser would (one synced), one of them used since.
      const synced = new SoftAuthenticator({ origin: site, backupEligible: true, backedUp: true });
      const local = new SoftAuthenticator({ origin: site });
      for (const [device, name] of [
        [synced, 'Pixel 8, Chrome'],
        [local, 'Work laptop security key with a rather long name'],
      ] as const) {
        const { options, challengeId } = await app.ctx.passkeys.registrationOptions(user);
        const made = await app.ctx.passkeys.verifyRegistration(
          user.id,
          challengeId,
          device.register(options),
          name,
        );
        expect(made.ok).toBe(true);
      }
      const request = await app.ctx.passkeys.authenticationOptions();
      const used = await app.ctx.passkeys.verifyAuthentication(
        request.challengeId,
        synced.assert(request.options),
      );
      expect(used.ok).toBe(true);
      const begun = await app.ctx.secondFactors.beginTotpEnrolment(user);
      if (!begun.ok) throw new Error('TOTP enrolment refused');
      await app.ctx.secondFactors.confirmTotpEnrolment(
        user.id,
        totpCode(begun.secret, totpStep(Date.now())),
      );

      const dark = await newPage({ viewport: PHONE, dark: true });
      const { cookie } = await app.ctx.sessions.create(user, {
        ip: '127.0.0.1',
        userAgent: ANDROID_FIREFOX,
        method: 'magic_link',
      });
      await dark.context().addCookies([{ name: 'portcullis_session', value: cookie, url: site }]);
      await dark.goto(`${site}/auth/account`);
      await dark.getByRole('heading', { name: 'Passkeys' }).waitFor();
      const row = dark.getByRole('row', { name: /Pixel 8, Chrome/ });
      expect(await row.textContent()).toContain('synced');
      await dark.getByRole('heading', { name: 'Two-step verification' }).waitFor();
      expect(await dark.getByText('10 left').count()).toBe(1);
      expect(
        await dark.getByRole('link', { name: 'Add a passkey on this device' }).getAttribute('href'),
      ).toBe(`/auth/passkey/enrol?rd=${encodeURIComponent('/auth/account')}`);
      await expectNoOverflow(dark);
      // The section and the two-step one below it, as the phone shows them scrolled there.
      await dark.evaluate("document.getElementById('passkeys').scrollIntoView()");
      await dark.screenshot({ path: new URL('account-passkeys.png', SHOTS).pathname });

      // Rename through its own page.
      await dark.getByRole('button', { name: 'Rename the passkey Pixel 8, Chrome' }).click();
      await dark.getByRole('heading', { name: 'Rename a passkey' }).waitFor();
      await dark.getByLabel('New name').fill('My Pixel');
      await dark.getByRole('button', { name: 'Save name' }).click();
      await dark.waitForURL(`${site}/auth/account?done=passkey_renamed`);
      await dark.getByRole('row', { name: /My Pixel/ }).waitFor();

      // Remove asks first; Cancel changes nothing, the confirmation removes it.
      await dark.getByRole('button', { name: 'Remove the passkey My Pixel' }).click();
      await dark.getByRole('heading', { name: 'Remove the passkey “My Pixel”?' }).waitFor();
      await expectNoOverflow(dark);
      await dark.screenshot({
        path: new URL('account-passkey-remove.png', SHOTS).pathname,
        fullPage: true,
      });
      await dark.getByRole('link', { name: 'Cancel' }).click();
      await dark.getByRole('row', { name: /My Pixel/ }).waitFor();
      await dark.getByRole('button', { name: 'Remove the passkey My Pixel' }).click();
      await dark.getByRole('button', { name: 'Remove passkey' }).click();
      await dark.waitForURL(`${site}/auth/account?done=passkey_removed`);
      expect(await dark.getByRole('row', { name: /My Pixel/ }).count()).toBe(0);
      expect((await app.ctx.passkeys.list(user.id)).map((p) => p.name)).toEqual([
        'Work laptop security key with a rather long name',
      ]);

      // New recovery codes, shown once.
      await dark.getByRole('button', { name: 'New recovery codes' }).click();
      await dark.getByRole('heading', { name: 'Your new recovery codes' }).waitFor();
      expect(await dark.locator('ol code').count()).toBe(10);
      await expectNoOverflow(dark);
      expect(violations).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
