import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeBrowser, launchChromium, SHOTS, screenshotDir } from '../helpers/browser.js';
import { type SmtpCapture, startSmtpCapture } from '../helpers/mail.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

/**
 * The whole Khoj-style journey in a real Chromium behind a real nginx (the shipped example
 * config): protected URL → login page → email → link → confirm → back on the URL; the admin
 * panel hands out a link; deactivation locks an open page out. Saves screenshots to docs/.
 */

const EXAMPLE = new URL('../../examples/nginx/portcullis.conf', import.meta.url);
// Screenshots for people to look at: test-results/ on every run (CI keeps them as files);
// the committed copies in docs/screenshots/ are refreshed with UPDATE_SCREENSHOTS=1.
screenshotDir();
const ADMIN = 'admin@example.com';
const MOBILE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 860 };

function nginxConf(ports: { listen: number; portcullis: number; app: number }): string {
  const swap = (text: string, from: string, to: string) => {
    if (text.split(from).length !== 2)
      throw new Error(`examples/nginx/portcullis.conf changed: "${from}"`);
    return text.replace(from, to);
  };
  let conf = readFileSync(EXAMPLE, 'utf8');
  conf = swap(conf, 'server 127.0.0.1:4180;', `server 127.0.0.1:${ports.portcullis};`);
  conf = swap(conf, 'server 127.0.0.1:8080;', `server 127.0.0.1:${ports.app};`);
  return swap(conf, 'listen 80;', `listen 127.0.0.1:${ports.listen};`);
}

describe('browser journey through nginx (Chromium)', { timeout: 120_000 }, () => {
  let browser: Browser;
  let smtp: SmtpCapture;
  let upstream: EchoUpstream;
  let app: LoggedApp;
  let nginx: NginxServer;
  let site: string;
  const contexts: BrowserContext[] = [];
  let adminPage: Page;

  async function newPage(viewport = MOBILE): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    return page;
  }

  /** Types the address on the login page the browser is on and returns the link mailed to it. */
  async function askForLink(page: Page, email: string): Promise<string> {
    const before = smtp.mails.filter((m) => m.to.includes(email)).length;
    await page.getByLabel('Email address').fill(email);
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    const mail = await smtp.waitForMailTo(email, before + 1);
    expect(mail.link).toBeTruthy();
    return mail.link as string;
  }

  async function confirm(page: Page, link: string): Promise<void> {
    await page.goto(link);
    await page.getByRole('heading', { name: 'Confirm sign-in' }).waitFor();
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** What the app received, without the browser's own favicon fetches. */
  const pageRequests = () => upstream.requests.filter((r) => r.url !== '/favicon.ico');
  const lastSeenBy = (email: string) =>
    pageRequests().filter((r) => r.headers['remote-email'] === email).length;

  beforeAll(async () => {
    screenshotDir();
    browser = await launchChromium();
    const port = await freePort();
    site = `http://127.0.0.1:${port}`;
    [smtp, upstream] = await Promise.all([startSmtpCapture(), startEchoUpstream()]);
    app = await startLoggedApp({
      server: { public_url: site },
      admin: { emails: [ADMIN] },
      auth: {
        magic_link: {
          mailer: 'smtp',
          from: 'Notes Login <login@example.com>',
          smtp: { url: smtp.url },
        },
      },
    });
    nginx = await startNginx(
      nginxConf({ listen: port, portcullis: Number(new URL(app.url).port), app: upstream.port }),
      [port],
    );
    for (const [email, name] of [
      ['carol@example.com', 'Carol Danvers'],
      ['dave@example.com', 'Dave Lister'],
      ['erin@example.com', 'Erin Hart'],
    ] as const) {
      await app.ctx.users.findOrCreate(email, name);
    }
  });

  afterAll(async () => {
    await closeBrowser(browser, contexts);
    await nginx?.stop();
    await app?.close();
    await Promise.all([smtp?.close(), upstream?.close()]);
  });

  it('protected URL → login page → email → confirm → back on the URL, upstream sees Remote-Email', async () => {
    const page = await newPage();
    const target = `${site}/notes/today?tab=2`;
    await page.goto(target);
    expect(page.url()).toBe(`${site}/auth/login?rd=${encodeURIComponent(target)}`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    // The address field is labelled and has the focus, so typing works at once.
    expect(await page.locator(':focus').getAttribute('id')).toBe('email');
    // docs/screenshots/login.png (every method on) comes from browser-login.test.ts.

    const link = await askForLink(page, 'alice@example.com');
    expect(link.startsWith(`${site}/auth/magic?token=`)).toBe(true);
    await page.goto(link);
    await page.getByRole('heading', { name: 'Confirm sign-in' }).waitFor();
    await page.screenshot({ path: new URL('confirm.png', SHOTS).pathname, fullPage: true });
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(target);
    expect(await page.textContent('body')).toContain('"remote-email":"alice@example.com"');
    const seen = pageRequests().at(-1);
    expect(seen?.url).toBe('/notes/today?tab=2');
    expect(seen?.headers['remote-email']).toBe('alice@example.com');

    // A second use of the same link, in another browser, says so at once, with the form for a
    // new link: the confirm page is not shown for a link that can no longer work.
    const other = await newPage();
    const dead = await other.goto(link);
    expect(dead?.status()).toBe(410);
    const alert = other.getByRole('alert');
    expect(await alert.textContent()).toContain('already used');
    expect(await other.getByRole('heading', { name: 'Confirm sign-in' }).count()).toBe(0);
    expect(lastSeenBy('alice@example.com')).toBe(1);
  });

  it('an admin finds a user, gets a login URL, and that URL signs the user in elsewhere', async () => {
    // Bob asks for a link the Khoj way, which creates his (unverified) account.
    const bob = await newPage();
    await bob.goto(`${site}/`);
    await askForLink(bob, 'bob@example.com');

    const admin = await newPage(DESKTOP);
    adminPage = admin;
    await admin.goto(`${site}/auth/admin`);
    await admin.waitForURL(/\/auth\/login\?rd=/);
    await confirm(admin, await askForLink(admin, ADMIN));
    await admin.waitForURL(`${site}/auth/admin`);
    await admin.getByRole('heading', { name: 'Admin panel' }).waitFor();

    await admin.getByLabel('Search users').fill('bob');
    await admin.getByRole('button', { name: 'Search' }).click();
    await admin.waitForURL(`${site}/auth/admin?q=bob`);
    await admin.getByLabel('Select bob@example.com').check();
    await admin.getByLabel('Action').selectOption({ label: 'Get email login URL' });
    await admin.getByRole('button', { name: 'Apply' }).click();
    await admin.getByRole('heading', { name: 'Retrieved login URL' }).waitFor();
    const url = (await admin.locator('.issued code').textContent())?.trim() ?? '';
    expect(url.startsWith(`${site}/auth/magic?token=`)).toBe(true);
    await admin.screenshot({
      path: new URL('admin-login-url.png', SHOTS).pathname,
      fullPage: true,
    });

    const fresh = await newPage();
    await confirm(fresh, url);
    await fresh.waitForURL(`${site}/`);
    expect(pageRequests().at(-1)?.headers['remote-email']).toBe('bob@example.com');
    expect((await app.ctx.store.getUserByEmail('bob@example.com'))?.verified).toBe(true);

    // Deactivating Bob: his open page is refused on the next request.
    await admin.goto(`${site}/auth/admin?q=bob`);
    await admin.getByLabel('Select bob@example.com').check();
    await admin.getByLabel('Action').selectOption('deactivate');
    await admin.getByRole('button', { name: 'Apply' }).click();
    // Deactivating asks first (admin.png and the confirmation: browser-admin.test.ts).
    await admin.getByRole('heading', { name: 'Deactivate bob@example.com?' }).waitFor();
    await admin.getByRole('button', { name: 'Deactivate 1 user' }).click();
    await admin.getByText('Deactivated bob@example.com').waitFor();
    const before = lastSeenBy('bob@example.com');
    await fresh.reload();
    await fresh.waitForURL(/\/auth\/login\?rd=/);
    expect(lastSeenBy('bob@example.com')).toBe(before);
  });

  it('the panel lists sessions with their browser and ends one', async () => {
    const page = adminPage;
    const alice = await app.ctx.store.getUserByEmail('alice@example.com');
    await page.goto(`${site}/auth/admin?user=${alice?.id}`);
    await page.getByRole('heading', { name: 'Active sessions (1)' }).waitFor();
    expect(await page.locator('table').first().textContent()).toMatch(
      /HeadlessChrome \d+ on Linux/,
    );
    await page.getByRole('button', { name: /^End session/ }).click();
    await page.getByRole('heading', { name: 'Active sessions (0)' }).waitFor();
    const alicePage = contexts[0]?.pages()[0] as Page;
    await waitFor(
      async () => {
        await alicePage.reload();
        return alicePage.url().includes('/auth/login?rd=');
      },
      10_000,
      "alice's page to be refused",
    );
  });
});
