import { pino } from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { seedGroupSources } from '../helpers/admin-panel.js';
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

/**
 * The admin panel's groups and usernames in a real Chromium with JavaScript off and the CSP
 * enforced: create a group, add a member, rename it, delete it through the confirmation page,
 * edit a username; on a desktop and a phone. Saves screenshots (docs/screenshots/ with
 * UPDATE_SCREENSHOTS=1).
 */

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const ADMIN = 'admin@example.com';

describe('admin panel: groups and usernames (Chromium, no JavaScript)', {
  timeout: 120_000,
}, () => {
  let browser: Browser;
  let app: App;
  let site: string;
  let page: Page;
  const contexts: BrowserContext[] = [];
  const violations: string[] = [];

  async function newPage(
    viewport = DESKTOP,
    colorScheme: 'light' | 'dark' = 'light',
  ): Promise<Page> {
    const opened = await openPage(
      browser,
      { viewport, javaScriptEnabled: false, colorScheme },
      violations,
    );
    contexts.push(opened.context());
    return opened;
  }

  /**
   * Addresses and event codes broken inside a word: each text run between two <wbr> must sit on
   * one line. Hidden cells (no boxes) are skipped.
   */
  async function midWordBreaks(target: Page): Promise<string[]> {
    return (await target.evaluate(`(() => {
      const bad = [];
      for (const el of document.querySelectorAll('.email, code.event')) {
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          if (!node.textContent) continue;
          const range = document.createRange();
          range.selectNodeContents(node);
          const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
          if (tops.size > 1) bad.push(el.textContent);
        }
      }
      return bad;
    })()`)) as string[];
  }

  /** Signs `email` in from a browser of its own (a session the panel lists). */
  async function signInElsewhere(email: string): Promise<void> {
    const other = await newPage();
    await other.goto(await app.ctx.loginLinks.issue(email, `${site}/auth/admin`));
    await other.getByRole('button', { name: 'Sign in' }).click();
    await other.waitForURL((url) => !url.pathname.startsWith('/auth/magic'));
  }

  /** A colour variable of the stylesheet as the browser resolves it (rgb(…)). */
  const colour = (target: Page, variable: string) =>
    target.evaluate(`(() => {
      const probe = document.createElement('div');
      probe.style.color = 'var(${variable})';
      document.body.append(probe);
      const value = getComputedStyle(probe).color;
      probe.remove();
      return value;
    })()`) as Promise<string>;

  const background = (target: Page, selector: string) =>
    target.evaluate(
      `getComputedStyle(document.querySelector(${JSON.stringify(selector)})).backgroundColor`,
    ) as Promise<string>;

  beforeAll(async () => {
    screenshotDir();
    browser = await launchChromium();
    const port = await freePort();
    site = `http://127.0.0.1:${port}`;
    const path = writeConfig({
      server: { public_url: site },
      admin: { emails: [ADMIN] },
      auth: { secret_key: TEST_SECRET, magic_link: { mailer: 'manual' } },
    });
    app = await startApp(loadConfig({ path, env: {} }), {
      logger: pino({ level: 'silent' }),
      listen: { host: '127.0.0.1', port },
    });
    await app.ctx.users.findOrCreate('robin.example@example.com', 'Robin Example');
    await seedGroupSources(app.ctx, Date.now());

    page = await newPage();
    await page.goto(`${site}/auth/admin`);
    await page.waitForURL(/\/auth\/login\?rd=/);
    await page.goto(await app.ctx.loginLinks.issue(ADMIN, `${site}/auth/admin`));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${site}/auth/admin`);
    await page.getByRole('heading', { name: 'Admin panel' }).waitFor();
  });

  afterAll(async () => {
    await closeBrowser(browser, contexts);
    await app?.close();
  });

  it('creates a group, adds a member, renames it and deletes it after confirming', async () => {
    await page.getByRole('link', { name: 'Groups' }).click();
    await page.getByRole('heading', { name: 'Groups', exact: true }).waitFor();
    await page.getByLabel('Group name').fill('support');
    await page.getByRole('button', { name: 'Create group' }).click();
    await page.getByRole('heading', { name: 'Group support' }).waitFor();
    await page.getByRole('link', { name: '← All groups' }).click();

    // A name that is refused is shown at the field, with what was typed.
    await page.getByLabel('Group name').fill('ops,admins');
    await page.getByRole('button', { name: 'Create group' }).click();
    await page.getByRole('alert').filter({ hasText: 'cannot contain a comma' }).waitFor();
    expect(await page.getByLabel('Group name').inputValue()).toBe('ops,admins');

    await page.getByLabel('Group name').fill('editors');
    await page.getByRole('button', { name: 'Create group' }).click();
    await page.getByRole('heading', { name: 'Group editors' }).waitFor();
    await page.getByLabel('Add a member (email or username)').fill('robin.example');
    await page.getByRole('button', { name: 'Add member' }).click();
    await page.getByText('robin.example@example.com is now in editors.').waitFor();
    expect((await app.ctx.store.getUserByEmail('robin.example@example.com'))?.groups).toEqual([
      'editors',
    ]);

    await page.getByLabel('New name').fill('writers');
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByRole('heading', { name: 'Group writers' }).waitFor();
    await page.screenshot({ path: new URL('admin-group.png', SHOTS).pathname, fullPage: true });

    await page.getByRole('link', { name: '← All groups' }).click();
    const scim = page.getByRole('row', { name: /finance/ });
    expect(await scim.textContent()).toMatch(/SCIM\s*read-only/);
    expect(await page.getByRole('row', { name: /sso-engineering/ }).textContent()).toContain(
      'IdP claim',
    );
    await expectNoOverflow(page);
    await page.screenshot({ path: new URL('admin-groups.png', SHOTS).pathname, fullPage: true });

    await page.getByRole('link', { name: 'writers' }).click();
    await page.getByRole('button', { name: 'Delete group…' }).click();
    await page.getByRole('heading', { name: 'Delete the group writers?' }).waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('Its 1 member loses it');
    await page.getByRole('button', { name: 'Delete group writers' }).click();
    await page.getByText('Deleted the group writers; 1 member no longer has it.').waitFor();
    expect(await app.ctx.store.getGroupByName('writers')).toBeNull();
    expect((await app.ctx.store.getUserByEmail('robin.example@example.com'))?.groups).toEqual([]);
  });

  it("edits a username on a phone, and adds to a group from the user's page", async () => {
    const phone = await newPage(PHONE);
    await phone.context().addCookies(await page.context().cookies());
    const robin = await app.ctx.store.getUserByEmail('robin.example@example.com');
    await phone.goto(`${site}/auth/admin?user=${robin?.id}`);
    await phone.getByRole('heading', { name: 'robin.example@example.com' }).waitFor();

    await phone.getByLabel('New username').fill('robin smith');
    await phone.getByRole('button', { name: 'Save username' }).click();
    await phone.getByRole('alert').filter({ hasText: 'only letters, digits' }).waitFor();
    await phone.getByLabel('New username').fill('robin');
    await phone.getByRole('button', { name: 'Save username' }).click();
    await phone.getByText('The username is now robin;').waitFor();
    expect((await app.ctx.store.getUser(robin?.id as string))?.username).toBe('robin');

    await phone.getByLabel('Add to group').selectOption({ label: 'support' });
    await phone.getByRole('button', { name: 'Add to group' }).click();
    await phone.getByText('Added to support.').waitFor();
    await phone.getByLabel('New token name').fill('Obsidian');
    await phone.getByRole('button', { name: 'Create token' }).click();
    await phone.getByRole('heading', { name: 'Token “Obsidian” created' }).waitFor();
    expect(await phone.getByLabel('New token').first().inputValue()).toMatch(/^pcx_/);
    await expectNoOverflow(phone);
    await phone.screenshot({
      path: new URL('admin-user-phone.png', SHOTS).pathname,
      fullPage: true,
    });
    expect(violations).toEqual([]);
  });

  it('asks before deactivating, lists who is skipped, and fits a phone in light and dark', async () => {
    const LONG = 'maximilian.alexander@engineering.example-company.co.uk';
    const ann = await app.ctx.users.findOrCreate('ann.example@example.com', 'Ann Example');
    await app.ctx.users.findOrCreate(LONG, 'Maximilian Alexander');
    const gone = await app.ctx.users.findOrCreate('gone@example.com', 'Gone');
    await app.ctx.store.updateUser({ ...gone, active: false });
    await signInElsewhere('ann.example@example.com');
    await signInElsewhere('ann.example@example.com');

    await page.goto(`${site}/auth/admin`);
    await page.screenshot({ path: new URL('admin.png', SHOTS).pathname, fullPage: true });
    await expectNoOverflow(page);
    expect(await midWordBreaks(page)).toEqual([]);

    await page.getByLabel('Select ann.example@example.com').check();
    await page.getByLabel('Select gone@example.com').check();
    await page.getByLabel(`Select ${ADMIN}`).check();
    await page.getByLabel('Action').selectOption({ label: 'Deactivate…' });
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('heading', { name: 'Deactivate ann.example@example.com?' }).waitFor();
    const plan = (await page.locator('.confirm').textContent()) ?? '';
    expect(plan).toContain(
      'ann.example@example.com can no longer sign in; their 2 sessions end now.',
    );
    expect(plan).toContain('gone@example.com: already deactivated.');
    expect(plan).toContain(`${ADMIN}: that is you: you cannot deactivate yourself.`);
    // The destructive button is red, not the primary blue.
    expect(await background(page, '.confirm button')).toBe(await colour(page, '--danger'));
    expect(await background(page, '.confirm button')).not.toBe(await colour(page, '--accent'));
    await page.screenshot({ path: new URL('admin-confirm.png', SHOTS).pathname, fullPage: true });
    expect((await app.ctx.store.getUser(ann.id))?.active).toBe(true);

    // The same question on a phone, in dark mode, then answered there.
    const dark = await newPage(PHONE, 'dark');
    await dark.context().addCookies(await page.context().cookies());
    await dark.goto(`${site}/auth/admin?user=${ann.id}`);
    await dark.getByRole('button', { name: 'Deactivate…' }).click();
    await dark.getByRole('heading', { name: 'Deactivate ann.example@example.com?' }).waitFor();
    await expectNoOverflow(dark);
    expect(await background(dark, '.confirm button')).toBe(await colour(dark, '--danger'));
    await dark.screenshot({
      path: new URL('admin-confirm-dark-phone.png', SHOTS).pathname,
      fullPage: true,
    });
    await dark.getByRole('button', { name: 'Deactivate 1 user' }).click();
    await dark.getByText('Deactivated ann.example@example.com; ended 2 sessions.').waitFor();
    expect((await app.ctx.store.getUser(ann.id))?.active).toBe(false);
    // Now their page offers Reactivate, and no Deactivate.
    await dark.getByRole('button', { name: 'Reactivate' }).waitFor();
    expect(await dark.getByRole('button', { name: 'Deactivate…' }).count()).toBe(0);

    const long = await app.ctx.store.getUserByEmail(LONG);
    const own = await app.ctx.store.getUserByEmail(ADMIN);
    const group = await app.ctx.store.getGroupByName('support');
    if (!long || !own || !group) throw new Error('seed users or group missing');
    await app.ctx.admin.groups.addMember(own, group.id, long.id);
    for (const scheme of ['light', 'dark'] as const) {
      const phone = await newPage(PHONE, scheme);
      await phone.context().addCookies(await page.context().cookies());
      for (const path of [
        '/auth/admin',
        `/auth/admin?user=${long.id}`,
        `/auth/admin?group=${group.id}`,
        `/auth/admin?user=${own.id}`,
      ]) {
        await phone.goto(`${site}${path}`);
        await expectNoOverflow(phone);
        expect(await midWordBreaks(phone), `${scheme} ${path}`).toEqual([]);
      }
      // Last: the admin's own page, whose session is this browser's cookie.
      await phone.getByText('this device').waitFor();
      if (scheme === 'light') {
        await phone.goto(`${site}/auth/admin`);
        await phone.screenshot({
          path: new URL('admin-mobile.png', SHOTS).pathname,
          fullPage: true,
        });
      } else {
        await phone.screenshot({
          path: new URL('admin-user-dark-phone.png', SHOTS).pathname,
          fullPage: true,
        });
      }
    }
    expect(violations).toEqual([]);
  });
});
