import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENTS,
  CookieJar,
  type SsoApp,
  signInAtProvider,
  startProviderForApps,
  startSsoApp,
  type TestAccount,
  type TestProvider,
} from '../helpers/oidc-provider.js';

/**
 * Google as a preset of OIDC, against a local provider that behaves like Google: email,
 * `email_verified` and `hd` in the ID token itself; `hd` only for Workspace accounts. The client
 * id and secret come from GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET, as in the systems this replaces.
 */
const accounts: Record<string, TestAccount> = {
  worker: { email: 'worker@example.com', email_verified: true, hd: 'example.com', name: 'W' },
  shouty: { email: 'shouty@example.com', email_verified: true, hd: 'EXAMPLE.COM' },
  consumer: { email: 'consumer@example.com', email_verified: true },
  secondary: { email: 'worker@gmail.com', email_verified: true, hd: 'example.com' },
  otherorg: { email: 'boss@other.org', email_verified: true, hd: 'other.org' },
  linked: { email: 'linked@example.com', email_verified: true, hd: 'example.com' },
};

let provider: TestProvider;
let limited: SsoApp;
let open: SsoApp;
const env = {
  GOOGLE_CLIENT_ID: CLIENTS.portcullis.id,
  GOOGLE_CLIENT_SECRET: CLIENTS.portcullis.secret,
};

beforeAll(async () => {
  const started = await startProviderForApps(2, {
    callbacks: ['/auth/google'],
    accounts,
    conformIdTokenClaims: false,
  });
  provider = started.provider;
  const [a, b] = started.ports;
  limited = await startSsoApp(
    a,
    {
      auth: {
        enabled_auth: ['magic_link', 'google_oauth'],
        google_oauth: { issuer: provider.issuer, hosted_domains: ['example.com'] },
      },
    },
    { env },
  );
  open = await startSsoApp(
    b,
    { auth: { enabled_auth: ['google_oauth'], google_oauth: { issuer: provider.issuer } } },
    { env },
  );
});

afterAll(async () => {
  await limited?.close();
  await open?.close();
  await provider?.stop();
});

async function viaGoogle(target: SsoApp, login: string, jar = new CookieJar()) {
  const start = await jar.fetch(`${target.url}/auth/google?rd=%2Fwelcome`);
  expect(start.status).toBe(302);
  const authorization = new URL(start.headers.get('location') as string);
  const callback = await signInAtProvider(jar, authorization.href, login);
  return { jar, authorization, callback, done: await jar.fetch(callback) };
}

describe('Google sign-in', () => {
  it('signs in a Workspace account of a hosted domain, from ID token claims alone', async () => {
    const userinfoBefore = provider.hits.get('/me') ?? 0;
    const { jar, authorization, callback, done } = await viaGoogle(limited, 'worker');
    expect(authorization.searchParams.get('hd')).toBe('example.com');
    expect(authorization.searchParams.get('client_id')).toBe(CLIENTS.portcullis.id);
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(new URL(callback).pathname).toBe('/auth/google');
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/welcome');
    expect(provider.hits.get('/me') ?? 0).toBe(userinfoBefore);
    const me = await fetch(`${limited.url}/auth/me`, {
      headers: { cookie: jar.header(limited.url) },
    });
    const body = (await me.json()) as { email: string; session: { method: string } };
    expect(body.email).toBe('worker@example.com');
    expect(body.session.method).toBe('google_oauth');
  });

  it('compares hd without regard to case', async () => {
    expect((await viaGoogle(limited, 'shouty')).done.status).toBe(303);
  });

  const refusals: [string, string][] = [
    ['a consumer account with an address at the domain (no hd)', 'consumer'],
    ['a Workspace account of the domain signing in with an address elsewhere', 'secondary'],
    ['a Workspace account of another organisation', 'otherorg'],
  ];
  for (const [name, login] of refusals) {
    it(`refuses ${name}`, async () => {
      const { done, jar } = await viaGoogle(limited, login);
      expect(done.status).toBe(403);
      const page = await done.text();
      expect(page).toContain('Sign in with a Google account of example.com');
      expect(jar.get(limited.url, 'portcullis_session')).toBeUndefined();
      const email = accounts[login]?.email as string;
      expect(await limited.ctx.store.getUserByEmail(email)).toBeNull();
    });
  }

  it('without hosted_domains, admits any verified Google account', async () => {
    expect((await viaGoogle(open, 'consumer')).done.status).toBe(303);
    expect((await viaGoogle(open, 'otherorg')).done.status).toBe(303);
  });

  it('signs in to the account a magic link made, same address, one account across methods', async () => {
    const link = new URL(await limited.ctx.loginLinks.issue('linked@example.com', '/'));
    const magic = new CookieJar();
    const confirm = await magic.fetch(link.href);
    expect(confirm.status).toBe(200);
    const csrf = magic.get(limited.url, 'portcullis_csrf') as string;
    const redeemed = await magic.fetch(`${limited.url}/auth/magic`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: link.searchParams.get('token') as string,
        csrf,
      }).toString(),
    });
    expect(redeemed.status).toBe(303);
    const first = await limited.ctx.store.getUserByEmail('linked@example.com');

    const { done, jar } = await viaGoogle(limited, 'linked');
    expect(done.status).toBe(303);
    const me = await fetch(`${limited.url}/auth/me`, {
      headers: { cookie: jar.header(limited.url) },
    });
    expect(((await me.json()) as { id: string }).id).toBe(first?.id);
  });

  it('shows the Google button with its own label on the login page', async () => {
    const page = await (await fetch(`${limited.url}/auth/login?rd=%2Fx`)).text();
    expect(page).toContain('action="/auth/google"');
    expect(page).toContain('Sign in with Google');
    expect(page).toMatch(/<input type="hidden" name="rd" value="\/x">/);
  });
});
