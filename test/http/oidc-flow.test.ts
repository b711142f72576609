import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENTS,
  CookieJar,
  oidcClientConfig,
  type SsoApp,
  signInAtProvider,
  startProviderForApps,
  startSsoApp,
  type TestAccount,
  type TestProvider,
} from '../helpers/oidc-provider.js';

/**
 * The generic OIDC method end to end against a real OpenID Provider: start → the provider's own
 * login and consent pages → callback → session cookie → the auth check passes with the groups
 * the provider asserted. The provider keeps ID tokens thin (like Okta), so email and groups come
 * from its userinfo endpoint.
 */
const accounts: Record<string, TestAccount> = {
  alice: {
    email: 'Alice@Example.COM',
    email_verified: true,
    name: 'Alice Liddell',
    groups: ['engineering', 'portcullis-admins'],
  },
  erin: { email: 'ERIN@example.com', email_verified: true, name: 'Erin' },
  frank: { email: 'frank@example.com', email_verified: true },
  grace: { email: 'grace@example.com', email_verified: true },
  nogroups: { email: 'nogroups@example.com', email_verified: true },
  hatter: { email: 'hatter@example.com', email_verified: true, preferred_username: 'Mad Hatter' },
  hatter2: { email: 'h2@example.com', email_verified: true, preferred_username: 'MAD-HATTER' },
};

let provider: TestProvider;
let app: SsoApp;
let port: number;

beforeAll(async () => {
  const started = await startProviderForApps(1, { accounts });
  provider = started.provider;
  [port] = started.ports;
  app = await startSsoApp(port, {
    admin: { emails: ['boss@example.com'] },
    access: {
      rules: [{ host: 'app.example.com', path: '/admin/**', groups: ['portcullis-admins'] }],
    },
    auth: {
      enabled_auth: ['magic_link', 'oidc'],
      // Trusted with emails: these tests join magic-link accounts and follow email changes.
      oidc: oidcClientConfig(provider.issuer, { link_by_email: true }),
    },
  });
});

afterAll(async () => {
  await app?.close();
  await provider?.stop();
});

async function signIn(jar: CookieJar, login: string, rd = '/') {
  const start = await jar.fetch(`${app.url}/auth/oidc?rd=${encodeURIComponent(rd)}`);
  expect(start.status).toBe(302);
  const authorization = start.headers.get('location') as string;
  const callback = await signInAtProvider(jar, authorization, login);
  const done = await jar.fetch(callback);
  return { start, authorization, callback, done };
}

function check(jar: CookieJar, host = 'app.example.com', uri = '/') {
  return fetch(`${app.url}/auth/traefik`, {
    headers: {
      cookie: jar.header(app.url),
      'x-forwarded-method': 'GET',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': host,
      'x-forwarded-uri': uri,
    },
  });
}

describe('generic OIDC sign-in', () => {
  it('sends the browser to the provider with PKCE S256, state and nonce, and keeps them server-side', async () => {
    const jar = new CookieJar();
    const start = await jar.fetch(`${app.url}/auth/oidc?rd=${encodeURIComponent('/notes')}`);
    expect(start.status).toBe(302);
    const url = new URL(start.headers.get('location') as string);
    expect(url.origin).toBe(provider.issuer);
    expect(url.searchParams.get('client_id')).toBe(CLIENTS.portcullis.id);
    expect(url.searchParams.get('redirect_uri')).toBe(`http://127.0.0.1:${port}/auth/oidc`);
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('scope')).toBe('openid email profile groups');
    const cookie = start.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(
      /^portcullis_oidc=[A-Za-z0-9_-]{43}; Path=\/auth; Max-Age=600; HttpOnly; SameSite=Lax$/,
    );
    // Nothing the callback checks travels in the browser: the cookie is only a random binding.
    const binding = jar.get(app.url, 'portcullis_oidc') as string;
    for (const secret of ['state', 'nonce', 'code_challenge']) {
      expect(binding).not.toBe(url.searchParams.get(secret));
    }
  });

  it('signs in through the provider: session cookie, rd, and the auth check passes with the groups claim', async () => {
    const jar = new CookieJar();
    const userinfo = provider.hits.get('/me') ?? 0;
    const { done, callback } = await signIn(jar, 'alice', 'https://app.example.com/admin/panel');
    // The ID token is thin here: email and groups had to come from the userinfo endpoint.
    expect(provider.hits.get('/me') ?? 0).toBe(userinfo + 1);
    expect(new URL(callback).pathname).toBe('/auth/oidc');
    expect(new URL(callback).searchParams.get('code')).toBeTruthy();
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('https://app.example.com/admin/panel');
    expect(jar.get(app.url, 'portcullis_session')).toBeTruthy();

    const allowed = await check(jar, 'app.example.com', '/admin/panel');
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('remote-email')).toBe('alice@example.com');
    expect(allowed.headers.get('remote-name')).toBe('Alice Liddell');
    expect(allowed.headers.get('remote-groups')).toBe('engineering,portcullis-admins');

    const me = await fetch(`${app.url}/auth/me`, { headers: { cookie: jar.header(app.url) } });
    const body = (await me.json()) as {
      email: string;
      session: { method: string };
      admin: boolean;
    };
    expect(body.email).toBe('alice@example.com');
    expect(body.session.method).toBe('oidc');
    // The config lists admins by email only: a provider group named like the old default
    // (`portcullis-admins`) makes nobody an admin, since `admin.groups` has no default.
    expect(body.admin).toBe(false);

    const user = await app.ctx.store.getUserByEmail('alice@example.com');
    const link = await app.ctx.store.getIdentity(provider.issuer, 'alice');
    expect(link?.userId).toBe(user?.id);
    expect(link?.groups).toEqual(['engineering', 'portcullis-admins']);
    expect(user?.verified).toBe(true);
  });

  it('refreshes the groups at each sign-in: groups the provider drops go, groups given here stay', async () => {
    const before = await app.ctx.store.getUserByEmail('alice@example.com');
    if (!before) throw new Error('alice should exist from the previous test');
    await app.ctx.store.updateUser({ ...before, groups: [...before.groups, 'local-team'] });
    const saved = accounts.alice?.groups;
    (accounts.alice as TestAccount).groups = ['engineering', 'oncall'];
    try {
      const jar = new CookieJar();
      const { done } = await signIn(jar, 'alice', 'https://app.example.com/admin/panel');
      expect(done.status).toBe(303);
      const after = await app.ctx.store.getUserByEmail('alice@example.com');
      expect(after?.id).toBe(before.id);
      expect([...(after?.groups ?? [])].sort()).toEqual(['engineering', 'local-team', 'oncall']);
      const denied = await check(jar, 'app.example.com', '/admin/panel');
      expect(denied.status).toBe(403);
    } finally {
      (accounts.alice as TestAccount).groups = saved;
    }
  });

  it('joins the account a magic-link user already has when the provider verified the same address (other case)', async () => {
    const existing = await app.ctx.store.createUser({
      id: 'erin-by-magic-link',
      email: 'erin@example.com',
      name: 'Erin from magic link',
      groups: ['readers'],
      active: true,
      verified: true,
      createdAt: Date.now(),
      lastLoginAt: Date.now(),
    });
    const jar = new CookieJar();
    const { done } = await signIn(jar, 'erin');
    expect(done.status).toBe(303);
    const me = await fetch(`${app.url}/auth/me`, { headers: { cookie: jar.header(app.url) } });
    const body = (await me.json()) as { id: string; email: string; groups: string[]; name: string };
    expect(body.id).toBe(existing.id);
    expect(body.email).toBe('erin@example.com');
    expect(body.name).toBe('Erin from magic link');
    expect(body.groups).toEqual(['readers']);
    expect((await app.ctx.store.getIdentity(provider.issuer, 'erin'))?.userId).toBe(existing.id);
  });

  it('finds the user by issuer + sub even after the provider changed the email, and follows the new address', async () => {
    const jar = new CookieJar();
    await signIn(jar, 'frank');
    const first = await app.ctx.store.getUserByEmail('frank@example.com');
    (accounts.frank as TestAccount).email = 'franklin@example.com';
    try {
      const again = await signIn(new CookieJar(), 'frank');
      expect(again.done.status).toBe(303);
      const moved = await app.ctx.store.getUserByEmail('franklin@example.com');
      expect(moved?.id).toBe(first?.id);
      expect(await app.ctx.store.getUserByEmail('frank@example.com')).toBeNull();
    } finally {
      (accounts.frank as TestAccount).email = 'frank@example.com';
    }
  });

  it('refuses an email change onto an address another account has, and changes nothing', async () => {
    await signIn(new CookieJar(), 'grace');
    const grace = await app.ctx.store.getUserByEmail('grace@example.com');
    (accounts.grace as TestAccount).email = 'erin@example.com';
    try {
      const jar = new CookieJar();
      const { done } = await signIn(jar, 'grace');
      expect(done.status).toBe(409);
      expect(await done.text()).toContain('another account here has it');
      expect(jar.get(app.url, 'portcullis_session')).toBeUndefined();
      expect((await app.ctx.store.getUserByEmail('grace@example.com'))?.id).toBe(grace?.id);
      expect((await app.ctx.store.getUserByEmail('erin@example.com'))?.id).toBe(
        'erin-by-magic-link',
      );
    } finally {
      (accounts.grace as TestAccount).email = 'grace@example.com';
    }
  });

  it('signs in a user whose provider sends no groups claim, with no groups', async () => {
    const jar = new CookieJar();
    const { done } = await signIn(jar, 'nogroups');
    expect(done.status).toBe(303);
    const allowed = await check(jar);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('remote-groups') ?? '').toBe('');
  });

  it('refuses a deactivated user after the provider signed them in', async () => {
    const alice = await app.ctx.store.getUserByEmail('alice@example.com');
    if (!alice) throw new Error('alice should exist');
    await app.ctx.store.updateUser({ ...alice, active: false });
    try {
      const jar = new CookieJar();
      const { done } = await signIn(jar, 'alice');
      expect(done.status).toBe(403);
      expect(await done.text()).toContain('This account is deactivated');
      expect(jar.get(app.url, 'portcullis_session')).toBeUndefined();
    } finally {
      await app.ctx.store.updateUser({ ...alice, active: true });
    }
  });

  it('lets one browser run two sign-ins at once (two tabs) with one binding cookie', async () => {
    const jar = new CookieJar();
    const first = await jar.fetch(`${app.url}/auth/oidc?rd=/one`);
    const binding = jar.get(app.url, 'portcullis_oidc');
    const second = await jar.fetch(`${app.url}/auth/oidc?rd=/two`);
    expect(jar.get(app.url, 'portcullis_oidc')).toBe(binding);
    const callbackOne = await signInAtProvider(
      jar,
      first.headers.get('location') as string,
      'erin',
    );
    const callbackTwo = await signInAtProvider(
      jar,
      second.headers.get('location') as string,
      'erin',
    );
    const doneTwo = await jar.fetch(callbackTwo);
    const doneOne = await jar.fetch(callbackOne);
    expect([doneOne.status, doneTwo.status]).toEqual([303, 303]);
    expect(doneOne.headers.get('location')).toBe('/one');
    expect(doneTwo.headers.get('location')).toBe('/two');
  });
});

describe('usernames from OIDC', () => {
  it('starts from preferred_username (made valid, a free variant when taken), else the local part', async () => {
    const cases = [
      ['hatter', 'Mad-Hatter'],
      ['hatter2', 'MAD-HATTER-2'],
      ['frank', 'frank'],
    ] as const;
    for (const [login, username] of cases) {
      const jar = new CookieJar();
      const { done } = await signIn(jar, login);
      expect(done.status, login).toBe(303);
      const allowed = await check(jar);
      expect(allowed.status, login).toBe(200);
      expect(allowed.headers.get('remote-user'), login).toBe(username);
      const me = await fetch(`${app.url}/auth/me`, { headers: { cookie: jar.header(app.url) } });
      expect(((await me.json()) as { username: string }).username, login).toBe(username);
    }
  });
});
