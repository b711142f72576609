import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type CDPSession,
  chromium,
  type Page,
} from 'playwright-core';
import { expect } from 'vitest';

/**
 * The shared Chromium setup of the browser tests: the system Chromium, headless; screenshots
 * into docs/screenshots/ with UPDATE_SCREENSHOTS=1 (test-results/screenshots/ otherwise).
 */

/** Where screenshots go (docs/screenshots/ with UPDATE_SCREENSHOTS=1). */
export const SHOTS = new URL(
  process.env.UPDATE_SCREENSHOTS === '1'
    ? '../../docs/screenshots/'
    : '../../test-results/screenshots/',
  import.meta.url,
);

/** Creates the screenshot folder; returns it. */
export function screenshotDir(): URL {
  mkdirSync(SHOTS, { recursive: true });
  return SHOTS;
}

/** The system Chromium (/usr/bin/chromium), headless. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Closes `contexts` (ignoring the ones already gone), then the browser, if it started. */
export async function closeBrowser(
  browser: Browser | undefined,
  contexts: BrowserContext[] = [],
): Promise<void> {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
}

/** Pushes every console line about the Content Security Policy into `violations`. */
export function collectCspViolations(page: Page, violations: string[]): void {
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
}

/**
 * A page in a new context with a 20 s default timeout; CSP console lines go to `violations`
 * when given.
 */
export async function openPage(
  browser: Browser,
  options: BrowserContextOptions,
  violations?: string[],
): Promise<Page> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  if (violations) collectCspViolations(page, violations);
  return page;
}

/** How far the page is wider than its window (0 or less: no sideways scrolling). */
export async function horizontalOverflow(page: Page): Promise<number> {
  // A string, not a function: the tests compile without the DOM library.
  return (await page.evaluate(
    'document.documentElement.scrollWidth - document.documentElement.clientWidth',
  )) as number;
}

/** Nothing is wider than the window: no sideways scrolling of the page itself. */
export async function expectNoOverflow(page: Page): Promise<void> {
  expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  nodes: { target: string[] }[];
}

let axeSource: string | undefined;

/** axe-core's serious and critical violations on the page (needs a context with bypassCSP). */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: axeSource });
  const found = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } })
      .axe;
    return (await axe.run()).violations;
  });
  return (found as AxeViolation[]).filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** A CTAP2 platform authenticator with a verified user, answering by itself, on the page. */
export async function addVirtualAuthenticator(
  context: BrowserContext,
  page: Page,
): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}
