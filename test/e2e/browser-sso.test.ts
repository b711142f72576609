import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/core/password.js';
import { launchChromium } from '../helpers/browser.js';
import {
  CLIENTS,
  oidcClientConfig,
  type SsoApp,
  startProviderForApps,
  startSsoApp,
  type TestAccount,
  type TestProvider,
} from '../helpers/oidc-provider.js';

/**
 * A real Chromium on a login page with all four methods enabled: the controls come in
 * `auth.enabled_auth` order and every button works. SSO goes through the provider's own login
 * and consent pages. The same local provider stands in for Google (with an `hd` claim) and for
 * the company IdP.
 */
const accounts: Record<string, TestAccount> = {
  alice: {
    email: 'alice@example.com',
    email_verified: true,
    name: 'Alice Liddell',
    groups: ['engineering'],
  },
  worker: { email: 'worker@example.com', email_verified: true, hd: 'example.com', name: 'Worker' },
};

const ORDER = ['basic', 'google_oauth', 'oidc', 'magic_link'] as const;
// The two methods that take an address share one form (identifier first), where the first of
// them stands in enabled_auth.
const ACTIONS = ['/auth/basic', '/auth/google', '/auth/oidc'];

interface Me {
  email: string;
  groups: string[];
  session: { method: string };
}

describe('login page with every method (Chromium)', { timeout: 120_000 }, () => {
  let browser: Browser;
  let provider: TestProvider;
  let app: SsoApp;
  let reordered: SsoApp;
  const contexts: BrowserContext[] = [];

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 420, height: 900 } });
    // Loopback only: the provider's dev pages link a web font that must not be fetched.
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) => route.abort(),
    );
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    return page;
  }

  async function meOn(page: Page): Promise<Me> {
    await page.waitForURL((url) => url.pathname === '/auth/me');
    return JSON.parse(((await page.locator('body').textContent()) ?? '').trim()) as Me;
  }

  /** The provider's real pages: its login form, then its consent page. */
  async function atProvider(page: Page, login: string): Promise<void> {
    await page.waitForURL((url) => url.origin === provider.issuer);
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('whatever');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
  }

  beforeAll(async () => {
    // No skip when the binary is missing: launching fails, and so does the suite.
    browser = await launchChromium();
    const started = await startProviderForApps(2, {
      callbacks: ['/auth/oidc', '/auth/google'],
      accounts,
      conformIdTokenClaims: false,
    });
    provider = started.provider;
    const [a, b] = started.ports;
    const auth = {
      enabled_auth: [...ORDER],
      basic: {
        users: [{ email: 'ops@example.com', password_hash: await hashPassword('s3cret pass') }],
      },
      google_oauth: {
        issuer: provider.issuer,
        client_id: CLIENTS.portcullis.id,
        client_secret: CLIENTS.portcullis.secret,
        hosted_domains: ['example.com'],
      },
      oidc: oidcClientConfig(provider.issuer, { display_name: 'Company SSO' }),
    };
    app = await startSsoApp(a, { auth });
    reordered = await startSsoApp(b, {
      auth: { ...auth, enabled_auth: ['magic_link', 'oidc', 'basic', 'google_oauth'] },
    });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await app?.close();
    await reordered?.close();
    await provider?.stop();
  });

  it('shows one control per method, in enabled_auth order', async () => {
    const page = await newPage();
    await page.goto(`${app.url}/auth/login?rd=%2Fauth%2Fme`);
    const actions = await page
      .locator('main form')
      .evaluateAll((forms) => forms.map((form) => form.getAttribute('action')));
    expect(actions).toEqual(ACTIONS);
    const buttons = await page.locator('main form button').allInnerTexts();
    expect(buttons).toEqual([
      'Use my password',
      'Email me a sign-in link',
      'Sign in with Google',
      'Sign in with Company SSO',
    ]);
    expect(await page.locator('main input[type="email"]').count()).toBe(1);

    await page.goto(`${reordered.url}/auth/login`);
    const other = await page
      .locator('main form')
      .evaluateAll((forms) => forms.map((form) => form.getAttribute('action')));
    expect(other).toEqual(['/auth/magic_link', '/auth/oidc', '/auth/google']);
    const formactions = await page
      .locator('main button[formaction]')
      .evaluateAll((buttons) => buttons.map((button) => button.getAttribute('formaction')));
    expect(formactions).toEqual(['/auth/magic_link', '/auth/basic']);
  });

  it('Company SSO: the provider login page, consent, and back signed in with the groups claim', async () => {
    const page = await newPage();
    await page.goto(`${app.url}/auth/login?rd=%2Fauth%2Fme`);
    await page.getByRole('button', { name: 'Sign in with Company SSO' }).click();
    await atProvider(page, 'alice');
    const me = await meOn(page);
    expect(me.email).toBe('alice@example.com');
    expect(me.groups).toEqual(['engineering']);
    expect(me.session.method).toBe('oidc');
  });

  it('Google: the same kind of journey, limited to the hosted domain', async () => {
    const page = await newPage();
    await page.goto(`${app.url}/auth/login?rd=%2Fauth%2Fme`);
    const authorization = page.waitForRequest((r) =>
      r.url().startsWith(`${provider.issuer}/auth?`),
    );
    await page.getByRole('button', { name: 'Sign in with Google' }).click();
    expect(new URL((await authorization).url()).searchParams.get('hd')).toBe('example.com');
    await atProvider(page, 'worker');
    const me = await meOn(page);
    expect(me.email).toBe('worker@example.com');
    expect(me.session.method).toBe('google_oauth');
  });

  it('cancelling at the provider lands on our page with a clear message', async () => {
    const page = await newPage();
    await page.goto(`${app.url}/auth/login?rd=%2Fauth%2Fme`);
    await page.getByRole('button', { name: 'Sign in with Company SSO' }).click();
    await page.waitForURL((url) => url.origin === provider.issuer);
    await page.getByRole('link', { name: '[ Cancel ]' }).click();
    await page.waitForURL((url) => url.origin === app.url && url.pathname === '/auth/oidc');
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toContain('Sign-in with Company SSO was cancelled or refused');
    // Every way in is still offered on that page.
    expect(await page.locator('main form').count()).toBe(3);
    expect(await page.locator('main button').count()).toBe(4);
  });

  it('Password: a wrong password says so, the right one signs in', async () => {
    const page = await newPage();
    await page.goto(`${app.url}/auth/login?rd=%2Fauth%2Fme`);
    await page.getByLabel('Email address').fill('ops@example.com');
    await page.getByRole('button', { name: 'Use my password' }).click();
    const form = page.locator('form[action="/auth/basic"]');
    await form.getByLabel('Password').fill('not it');
    await form.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Wrong email or password.');
    // The address typed is kept (shown, and sent again); the password is not.
    const again = page.locator('form[action="/auth/basic"]');
    expect(await again.locator('.chosen').textContent()).toContain('ops@example.com');
    expect(await again.locator('input[name="email"]').inputValue()).toBe('ops@example.com');
    expect(await again.getByLabel('Password').inputValue()).toBe('');
    await again.getByLabel('Password').fill('s3cret pass');
    await again.getByRole('button', { name: 'Sign in', exact: true }).click();
    const me = await meOn(page);
    expect(me.email).toBe('ops@example.com');
    expect(me.session.method).toBe('basic');
  });

  it('Magic link: the button sends a link that signs in', async () => {
    const page = await newPage();
    await page.goto(`${app.url}/auth/login?rd=%2Fauth%2Fme`);
    await page.getByLabel('Email address').fill('reader@example.com');
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    const line = app.logs.find(
      (l) => l.event === 'magic_link_logged' && l.to === 'reader@example.com',
    );
    const link = /(http:\/\/\S+)/.exec(String(line?.msg))?.[1];
    expect(link).toBeTruthy();
    await page.goto(link as string);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const me = await meOn(page);
    expect(me.email).toBe('reader@example.com');
    expect(me.session.method).toBe('magic_link');
  });
});
