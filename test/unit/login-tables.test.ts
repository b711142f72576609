import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCorpus } from '../fixtures/read-corpus.js';
import { type InjectedApp, startInjectedApp } from '../helpers/inject-app.js';
import {
  cookieTossingTable,
  csrfTable,
  duplicateSessionCookieTable,
  injectedClient,
  magicLinkFieldShapesTable,
  magicLinkLifecycleTable,
} from '../helpers/login-table-cases.js';

/**
 * The login hostile tables in-process: every table of test/helpers/login-table-cases.ts over
 * `injectedClient` (the app built by `startApp` with every real component, each request handed to
 * its request handler without a socket, test/helpers/inject-app.ts). The same functions run over
 * real sockets in test/http/ (csrf, cookie-tossing, magic-link-lifecycle, magic-link-field-shapes,
 * duplicate-session-cookie); reverse-proxy mode stays with the socket tests.
 */

// --- csrf.test.ts and cookie-tossing.test.ts (test/fixtures/csrf-cases.json): shared tables ---

csrfTable(injectedClient);
cookieTossingTable(injectedClient);

// --- magic-link-lifecycle, magic-link-field-shapes: shared tables --------------------------

magicLinkLifecycleTable(injectedClient);
magicLinkFieldShapesTable(injectedClient);

// --- hostile-input.test.ts: the login flow's rd under test/fixtures/open-redirects.txt ---------

describe('the login page under the open-redirect corpus (open-redirects.txt)', () => {
  let app: InjectedApp;
  beforeAll(async () => {
    app = await startInjectedApp({
      server: { public_url: 'https://auth.example.com' },
      session: { cookie_domain: '.example.com' },
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('never fails and never carries a hostile rd into the page', async () => {
    const rd = (value: string) => `/auth/login?rd=${encodeURIComponent(value)}`;
    // Control: an honoured rd does reach the page (so its absence below means something).
    const control = await app.request({ path: rd('https://wiki.example.com/kept') });
    expect(await control.text()).toContain('https://wiki.example.com/kept');
    const corpus = readCorpus(new URL('../fixtures/open-redirects.txt', import.meta.url));
    for (const { source, value } of corpus) {
      const response = await app.request({ path: rd(value) });
      expect(response.status, source).toBeLessThan(500);
      // The random CSRF token may spell "evil" by chance: only what the page says counts.
      const body = (await response.text()).replace(/name="csrf" value="[^"]*"/g, '');
      expect(body, source).not.toMatch(/evil|javascript:|data:text/i);
    }
  });

  it('redeeming a link whose stored rd is hostile redirects to /, never a 500', async () => {
    for (const rd of ['/\uff0fevil.com', '//evil.com', 'https://evil.com/', '/\t/evil.com']) {
      const response = await app.redeem(await app.ctx.loginLinks.issue('redeemer@example.com', rd));
      expect(response.status, JSON.stringify(rd)).toBe(303);
      expect(response.headers.get('location'), JSON.stringify(rd)).toBe('/');
    }
  });
});

// --- duplicate-session-cookie.test.ts (forward-auth mode) and cookie-headers.json: shared ---

duplicateSessionCookieTable(injectedClient);
