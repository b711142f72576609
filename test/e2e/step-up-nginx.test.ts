import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { TEST_SECRET, writeConfig } from '../helpers/app.js';
import {
  addVirtualAuthenticator,
  launchChromium,
  openPage,
  SHOTS,
  screenshotDir,
} from '../helpers/browser.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

/**
 * A `require: [passkey]` rule behind real nginx running examples/nginx/portcullis.conf, in
 * Chromium with a CDP virtual authenticator: magic-link sign-in (a passkey created on the offer,
 * which does not lift the session), the protected URL → nginx's 401 → the step-up page → the
 * passkey → back at the app, 200 through nginx. Screenshot: docs/screenshots/step-up.png with
 * UPDATE_SCREENSHOTS=1.
 *
 * `localhost`, not 127.0.0.1: an IP address cannot be a WebAuthn RP ID.
 */
const EXAMPLE = new URL('../../examples/nginx/portcullis.conf', import.meta.url);
const CHROME_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const EMAIL = 'vera@example.com';

describe('step-up behind real nginx, in Chromium', { timeout: 180_000 }, () => {
  let browser: Browser;
  let app: App;
  let nginx: NginxServer | undefined;
  let upstream: EchoUpstream;
  let site = '';

  beforeAll(async () => {
    screenshotDir();
    const port = await freePort();
    site = `http://localhost:${port}`;
    upstream = await startEchoUpstream();
    const path = writeConfig({
      server: { public_url: site },
      auth: {
        secret_key: TEST_SECRET,
        enabled_auth: ['magic_link', 'passkey'],
        magic_link: { mailer: 'manual' },
      },
      access: {
        default_policy: 'authenticated',
        rules: [{ path: '/vault/**', require: ['passkey'] }],
      },
    });
    app = await startApp(loadConfig({ path, env: {} }), {
      logger: pino({ level: 'silent' }),
      listen: { host: '127.0.0.1', port: 0 },
    });
    await app.ctx.users.findOrCreate(EMAIL, 'Vera Example');
    let conf = readFileSync(EXAMPLE, 'utf8');
    const swap = (from: string, to: string) => {
      if (!conf.includes(from)) throw new Error(`example changed: no "${from}"`);
      conf = conf.replace(from, to);
    };
    swap('server 127.0.0.1:4180;', `server 127.0.0.1:${new URL(app.url).port};`);
    swap('server 127.0.0.1:8080;', `server 127.0.0.1:${upstream.port};`);
    swap('listen 80;', `listen 127.0.0.1:${port};`);
    nginx = await startNginx(conf, [port]);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await nginx?.stop();
    await app?.close();
    await upstream?.close();
  });

  it('magic link → protected URL → step-up page → passkey → the app', async () => {
    const violations: string[] = [];
    const page = await openPage(
      browser,
      { viewport: { width: 420, height: 860 }, userAgent: CHROME_MAC },
      violations,
    );
    const context = page.context();
    await addVirtualAuthenticator(context, page);
    const target = `${site}/vault/notes?id=7`;

    // Sign in by link; the offer creates a passkey (the session stays a link session).
    await page.goto(await app.ctx.loginLinks.issue(EMAIL, target));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/auth\/passkey\/enrol/);
    await page.getByRole('button', { name: 'Create a passkey' }).click();

    // Back to the target: nginx asks portcullis, which wants a passkey: the step-up page.
    await page.waitForURL(`${site}/auth/login?rd=${encodeURIComponent(target)}&step_up=passkey`);
    await page.getByRole('heading', { name: 'This page asks for a passkey' }).waitFor();
    const use = page.getByRole('button', { name: 'Use your passkey' });
    await use.waitFor({ state: 'visible' });
    await page.screenshot({ path: new URL('step-up.png', SHOTS).pathname, fullPage: true });

    const arrived = page.waitForResponse((response) => response.url() === target);
    await use.click();
    const response = await arrived;
    expect(response.status()).toBe(200);
    const echo = JSON.parse(await response.text()) as { headers: Record<string, string> };
    expect(echo.headers['remote-email']).toBe(EMAIL);
    expect(upstream.requests.some((r) => r.url === '/vault/notes?id=7')).toBe(true);
    expect(violations).toEqual([]);
    await context.close();
  });
});
