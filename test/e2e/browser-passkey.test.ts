import { pino } from 'pino';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { User } from '../../src/ports/store.js';
import { TEST_SECRET, writeConfig } from '../helpers/app.js';
import {
  addVirtualAuthenticator,
  launchChromium,
  openPage,
  SHOTS,
  screenshotDir,
} from '../helpers/browser.js';
import { freePort, waitFor } from '../helpers/ports.js';

/**
 * Passkeys in a real Chromium with a CDP virtual authenticator (CTAP2, internal transport,
 * resident keys, user verification): enrol on the offer after a magic-link sign-in, sign out,
 * sign back in with the button and through the email field's autofill (conditional UI), a
 * second device with its own passkey, and a removed passkey refused. The pages run under their
 * CSP (`script-src 'self'`), which must not be tripped. Screenshots: docs/screenshots/ with
 * UPDATE_SCREENSHOTS=1.
 *
 * `localhost`, not 127.0.0.1: an IP address cannot be a WebAuthn RP ID, and http://localhost is
 * a secure context.
 */
const PHONE = { width: 390, height: 844 };
const WINDOWS_EDGE =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0';
const CHROME_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const EMAIL = 'pat@example.com';

interface Device {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
}

describe('passkeys in Chromium (virtual authenticator)', { timeout: 180_000 }, () => {
  let browser: Browser;
  let app: App;
  let site: string;
  const devices: Device[] = [];
  /** Console lines about the CSP: the pages must not trip it. */
  const violations: string[] = [];
  /** `mediation` of every navigator.credentials.get call, in every device's page. */
  const mediations: string[] = [];

  async function newDevice(userAgent?: string): Promise<Device> {
    const page = await openPage(
      browser,
      {
        viewport: PHONE,
        ...(userAgent ? { userAgent } : {}),
      },
      violations,
    );
    const context = page.context();
    // How the page calls navigator.credentials.get, reported to the test (a DevTools-injected
    // script: the page's CSP does not apply to it, and the page's own code is unchanged). With
    // `#no-autofill` in the URL the browser claims no conditional UI, as older browsers do, so
    // the button is what signs in.
    await page.exposeBinding('__recordMediation', (_source, mediation: string) => {
      mediations.push(mediation);
    });
    await page.addInitScript(`(() => {
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = (options) => {
        window.__recordMediation(options && options.mediation ? options.mediation : 'none');
        return get(options);
      };
      if (location.hash === '#no-autofill') {
        PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
      }
    })()`);
    const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
    const device = { context, page, cdp, authenticatorId };
    devices.push(device);
    return device;
  }

  /** The credential IDs the device's authenticator holds, base64url as the server stores them. */
  async function heldCredentials(device: Device): Promise<string[]> {
    const { credentials } = await device.cdp.send('WebAuthn.getCredentials', {
      authenticatorId: device.authenticatorId,
    });
    return credentials.map((c) => Buffer.from(c.credentialId, 'base64').toString('base64url'));
  }

  async function patId(): Promise<string> {
    return ((await app.ctx.store.getUserByEmail(EMAIL)) as User).id;
  }

  /** What /auth/me says in this browser: the signed-in method, or null when signed out. */
  async function signedInMethod(page: Page): Promise<string | null> {
    const response = await page.context().request.get(`${site}/auth/me`);
    if (response.status() !== 200) return null;
    return ((await response.json()) as { session: { method: string } }).session.method;
  }

  async function linkSignIn(page: Page, rd: string): Promise<void> {
    const link = await app.ctx.loginLinks.issue(EMAIL, rd);
    await page.goto(link);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** The authenticator answers by itself (a person touching it) or waits. */
  async function presence(device: Device, enabled: boolean): Promise<void> {
    await device.cdp.send('WebAuthn.setAutomaticPresenceSimulation', {
      authenticatorId: device.authenticatorId,
      enabled,
    });
  }

  /**
   * Signs out through the confirm page. It lands on the login page, whose conditional request
   * the virtual authenticator would answer at once (signing straight back in): the
   * authenticator waits meanwhile, and the page is left before it answers again.
   */
  async function signOut(device: Device): Promise<void> {
    const { page } = device;
    await presence(device, false);
    await page.goto(`${site}/auth/logout`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${site}/auth/login?info=signed_out`);
    await page.goto('about:blank');
    await presence(device, true);
    expect(await signedInMethod(page)).toBeNull();
  }

  beforeAll(async () => {
    screenshotDir();
    browser = await launchChromium();
    const port = await freePort();
    site = `http://localhost:${port}`;
    const path = writeConfig({
      server: { public_url: site },
      auth: {
        secret_key: TEST_SECRET,
        enabled_auth: ['magic_link', 'passkey'],
        magic_link: { mailer: 'manual' },
        passkey: { rp_name: 'Notes' },
      },
    });
    app = await startApp(loadConfig({ path, env: {} }), {
      logger: pino({ level: 'silent' }),
      listen: { host: '127.0.0.1', port },
    });
    await app.ctx.users.findOrCreate(EMAIL, 'Pat Example');
  });

  afterAll(async () => {
    for (const device of devices) await device.context.close().catch(() => {});
    await browser?.close();
    await app?.close();
  });

  let first: Device;

  it('offers a passkey after a magic-link sign-in and enrols one', async () => {
    first = await newDevice(CHROME_MAC);
    const { page } = first;
    const target = `${site}/auth/me`;
    await linkSignIn(page, target);
    await page.waitForURL(`${site}/auth/passkey/enrol?rd=${encodeURIComponent(target)}`);
    await page.getByRole('heading', { name: 'Sign in faster next time on this device?' }).waitFor();
    const create = page.getByRole('button', { name: 'Create a passkey' });
    await create.waitFor({ state: 'visible' });
    await page.screenshot({ path: new URL('passkey-enrol.png', SHOTS).pathname, fullPage: true });
    await create.click();
    await page.waitForURL(target);
    expect(await signedInMethod(page)).toBe('magic_link');
    const stored = await app.ctx.passkeys.list(await patId());
    expect(stored.map((p) => p.name)).toEqual(['Chrome on macOS']);
    expect(await heldCredentials(first)).toEqual([stored[0]?.id]);
  });

  it('signs back in with the passkey button', async () => {
    const { page } = first;
    await signOut(first);
    const target = `${site}/auth/me`;
    await page.goto(`${site}/auth/login?rd=${encodeURIComponent(target)}#no-autofill`);
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    await button.waitFor({ state: 'visible' });
    expect(await page.getByLabel('Email address').getAttribute('autocomplete')).toBe(
      'username webauthn',
    );
    await page.screenshot({ path: new URL('passkey-signin.png', SHOTS).pathname, fullPage: true });
    await button.click();
    await page.waitForURL(target);
    expect(await signedInMethod(page)).toBe('passkey');
  });

  it('is not offered again after a passkey sign-in or on a device that has one', async () => {
    const { page } = first;
    await signOut(first);
    const target = `${site}/auth/me`;
    await linkSignIn(page, target);
    // This browser's passkey is named after it: straight on to rd.
    await page.waitForURL(target);
  });

  it('starts conditional UI (autofill) on the email field and signs in through it', async () => {
    const { page } = first;
    await signOut(first);
    mediations.length = 0;
    const target = `${site}/auth/me?via=autofill`;
    const options = page.waitForRequest(`${site}/auth/passkey/login/options`);
    await page.goto(`${site}/auth/login?rd=${encodeURIComponent(target)}`);
    await options;
    // The page asked for a conditional request on load, with nothing pressed. Headless
    // Chromium shows no autofill popup to pick from: its virtual authenticator (automatic
    // presence) answers a conditional request at once, as if the person had picked the
    // passkey in the email field's list, and the page signs in with that answer.
    await page.waitForURL(target);
    expect(mediations).toEqual(['conditional']);
    expect(await signedInMethod(page)).toBe('passkey');
  });

  let second: Device;

  it('a second device enrols and signs in with its own passkey', async () => {
    second = await newDevice(WINDOWS_EDGE);
    const { page } = second;
    const target = `${site}/auth/me`;
    await linkSignIn(page, target);
    await page.waitForURL(/\/auth\/passkey\/enrol\?rd=/);
    await page.getByText('It will be named “Edge on Windows”').waitFor();
    await page.getByRole('button', { name: 'Create a passkey' }).click();
    await page.waitForURL(target);
    const stored = await app.ctx.passkeys.list(await patId());
    expect(stored.map((p) => p.name)).toEqual(['Chrome on macOS', 'Edge on Windows']);
    const mine = await heldCredentials(second);
    expect(mine).toEqual([stored[1]?.id]);

    await signOut(second);
    await page.goto(`${site}/auth/login?rd=${encodeURIComponent(target)}#no-autofill`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(target);
    expect(await signedInMethod(page)).toBe('passkey');
    const after = await app.ctx.passkeys.list(await patId());
    expect(after[1]?.lastUsedAt).not.toBeNull();
  });

  it('a removed passkey is refused at once; the other device still signs in', async () => {
    const id = (await heldCredentials(second))[0] as string;
    expect(await app.ctx.passkeys.remove(await patId(), id)).not.toBeNull();
    const { page } = second;
    await signOut(second);
    await page.goto(`${site}/auth/login#no-autofill`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const alert = page.locator('[data-passkey-message]');
    await alert.waitFor({ state: 'visible' });
    expect(await alert.textContent()).toContain('not registered here');
    expect(await signedInMethod(page)).toBeNull();
    // Where the browser has the WebAuthn Signal API, the script tells the authenticator to
    // forget the passkey the server no longer knows, so it is not offered again.
    if (await page.evaluate("typeof PublicKeyCredential.signalUnknownCredential === 'function'")) {
      await waitFor(async () => (await heldCredentials(second)).length === 0, 5000, 'signal');
    }

    await signOut(first);
    const target = `${site}/auth/me`;
    await first.page.goto(`${site}/auth/login?rd=${encodeURIComponent(target)}#no-autofill`);
    await first.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await first.page.waitForURL(target);
    expect(await signedInMethod(first.page)).toBe('passkey');
  });

  it('works without JavaScript: no passkey button, the email form as before', async () => {
    const context = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${site}/auth/login`);
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).count()).toBe(0);
    expect(await page.locator('.divider:visible').count()).toBe(0);
    await page.getByRole('button', { name: 'Ask for a sign-in link' }).waitFor();
    await context.close();
  });

  it('tripped no Content-Security-Policy', () => {
    expect(violations).toEqual([]);
  });
});
