import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium, SHOTS, screenshotDir } from '../helpers/browser.js';

/**
 * A dead link in a real Chromium: the page says why at once, the new-link form works without
 * JavaScript, and a live link opened first by a "scanner" still signs in. Screenshots go to
 * test-results/; UPDATE_SCREENSHOTS=1 refreshes the committed docs/screenshots/dead-link*.png.
 */
screenshotDir();

describe('dead magic links in Chromium', { timeout: 60_000 }, () => {
  const clock = new ManualClock(Date.now());
  let browser: Browser;
  let app: TestApp;
  beforeAll(async () => {
    browser = await launchChromium();
    app = await startTestApp({}, { clock });
  });
  /** The link as mailed names public_url; the test server listens on a free port. */
  const issue = async (email: string, rd: string) => {
    const url = new URL(await app.ctx.loginLinks.issue(email, rd));
    return `${app.url}${url.pathname}${url.search}`;
  };
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('an expired link says so at once and sends a new one from the same page', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const link = await issue('alice@example.com', '/notes');
    clock.advance(15 * 60_000);
    const response = await page.goto(link);
    expect(response?.status()).toBe(410);
    await page.getByRole('heading', { name: 'Link expired' }).waitFor();
    expect(await page.getByRole('alert').textContent()).toContain(
      'This link expired (links last 15 minutes)',
    );
    expect(await page.getByLabel('Email address').inputValue()).toBe('alice@example.com');
    await page.screenshot({ path: new URL('dead-link.png', SHOTS).pathname, fullPage: true });
    await page.getByRole('button', { name: 'Send me a new link' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    await context.close();
  });

  it('a garbage link on a phone in dark mode: not valid, an empty form, and it can be filled in', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      colorScheme: 'dark',
    });
    const page = await context.newPage();
    const response = await page.goto(`${app.url}/auth/magic?token=cut-short-by-a-mail-client`);
    expect(response?.status()).toBe(400);
    await page.getByRole('heading', { name: 'Link not valid' }).waitFor();
    expect(await page.getByLabel('Email address').inputValue()).toBe('');
    await page.screenshot({ path: new URL('dead-link-phone.png', SHOTS).pathname, fullPage: true });
    await page.getByLabel('Email address').fill('bob@example.com');
    await page.getByRole('button', { name: 'Send me a new link' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    await context.close();
  });

  it('a live link opened by a scanner first still signs the person in', async () => {
    const link = await issue('carol@example.com', '/');
    const scanner = await fetch(link);
    expect(scanner.status).toBe(200);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link);
    await page.getByRole('button', { name: 'Sign in as carol@example.com' }).click();
    await page.waitForURL((url) => !url.pathname.endsWith('/magic'));
    const cookies = await context.cookies();
    expect(cookies.some((c) => c.name === 'portcullis_session')).toBe(true);
    // The same link again: already used, at once.
    const again = await page.goto(link);
    expect(again?.status()).toBe(410);
    await page.getByText('This link was already used — each link works once').waitFor();
    await context.close();
  });
});
