import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { START_LIMIT } from '../../src/http/login/oidc.js';
import { stateKey } from '../../src/login/oidc-flow.js';
import type { OidcStateData } from '../../src/ports/store.js';
import {
  CLIENTS,
  CookieJar,
  OffsetClock,
  OTHER_REDIRECT,
  oidcClientConfig,
  type SsoApp,
  signInAtProvider,
  startProviderForApps,
  startSsoApp,
  type TestAccount,
  type TestProvider,
} from '../helpers/oidc-provider.js';

/**
 * Everything that must not sign anyone in, against the same real provider: forged, replayed and
 * foreign callbacks, tampered server-side state, tokens for another client, expired ID tokens,
 * unverified or unusable emails, signup policy, PKCE misconfiguration, hostile parameters.
 * Each case also checks that no session cookie was set and that the answer is a page, not a 500.
 */
const accounts: Record<string, TestAccount> = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice' },
  bob: { email: 'bob@example.com', email_verified: false },
  mallory: { email: 'victim@example.com', email_verified: false, name: 'Not the victim' },
  nomail: { email_verified: true, name: 'No Mail' },
  twoat: { email: 'two@at@example.com', email_verified: true },
  unicode: { email: 'аlice@example.com', email_verified: true },
  stringy: { email: 'stringy@example.com', email_verified: 'true' },
  stranger: { email: 'stranger@elsewhere.org', email_verified: true },
};

let provider: TestProvider;
let app: SsoApp;
let inviteOnly: SsoApp;
let noPkceAgainstRequired: SsoApp;
let noPkce: SsoApp;
const clock = new OffsetClock();

const oidcConfig = (overrides: Record<string, unknown> = {}) =>
  oidcClientConfig(provider.issuer, overrides);

beforeAll(async () => {
  const started = await startProviderForApps(4, { accounts, idTokenTtlSeconds: 60 });
  provider = started.provider;
  const [a, b, c, d] = started.ports;
  app = await startSsoApp(
    a,
    { auth: { enabled_auth: ['magic_link', 'oidc'], oidc: oidcConfig() } },
    { clock },
  );
  inviteOnly = await startSsoApp(b, {
    auth: {
      enabled_auth: ['oidc'],
      signup: 'invite_only',
      // An invited account is joined by email: only a provider trusted with emails may.
      oidc: oidcConfig({ link_by_email: true }),
    },
  });
  noPkceAgainstRequired = await startSsoApp(c, {
    auth: { enabled_auth: ['oidc'], oidc: oidcConfig({ pkce: false }) },
  });
  noPkce = await startSsoApp(d, {
    auth: {
      enabled_auth: ['oidc'],
      oidc: oidcConfig({
        pkce: false,
        client_id: CLIENTS.noPkce.id,
        client_secret: CLIENTS.noPkce.secret,
      }),
    },
  });
});

afterAll(async () => {
  for (const instance of [app, inviteOnly, noPkceAgainstRequired, noPkce]) await instance?.close();
  await provider?.stop();
});

async function begin(jar: CookieJar, target: SsoApp = app, rd = '/') {
  const start = await jar.fetch(`${target.url}/auth/oidc?rd=${encodeURIComponent(rd)}`);
  expect(start.status).toBe(302);
  return start.headers.get('location') as string;
}

async function attempt(login: string, target: SsoApp = app) {
  const jar = new CookieJar();
  const authorization = await begin(jar, target);
  const callback = await signInAtProvider(jar, authorization, login);
  return { jar, authorization, callback };
}

/** A refusal: an HTML page with the message, the given status, and no session. */
async function expectRefused(response: Response, status: number, text: string, target = app) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toContain('text/html');
  expect(response.headers.get('set-cookie') ?? '').not.toContain('portcullis_session=');
  const body = await response.text();
  expect(body).toContain(text);
  // The page offers the way back: the sign-in controls.
  expect(body).toContain(`action="/auth/oidc"`);
  expect(target.url).toBeTruthy();
  return body;
}

function lastFailure(target: SsoApp = app) {
  const entries = target.logs.filter(
    (l) => l.msg === 'OIDC sign-in failed' || l.msg === 'OIDC sign-in refused',
  );
  return entries[entries.length - 1] as { failure: string; detail: string | null } | undefined;
}

async function rewriteAttempt(
  authorization: string,
  change: (data: OidcStateData) => OidcStateData,
) {
  const state = new URL(authorization).searchParams.get('state') as string;
  const record = await app.ctx.store.consumeToken(stateKey(state));
  if (!record?.oidc) throw new Error('no attempt stored for this state');
  await app.ctx.store.putToken(stateKey(state), { ...record, oidc: change(record.oidc) });
}

const CHECKS_FAILED = 'did not pass our checks';
const EXPIRED = 'This sign-in attempt expired, was already used, or was started in another browser';

describe('callbacks that must not sign anyone in', () => {
  it('control: the same steps sign in when nothing is tampered with', async () => {
    const { jar, callback } = await attempt('alice');
    const done = await jar.fetch(callback);
    expect(done.status).toBe(303);
    expect(done.headers.get('set-cookie')).toContain('portcullis_session=');
  });

  it('refuses a wrong state, and the real state still works afterwards', async () => {
    const { jar, callback } = await attempt('alice');
    const forged = new URL(callback);
    forged.searchParams.set('state', 'A'.repeat(43));
    await expectRefused(await jar.fetch(forged.href), 400, EXPIRED);
    expect(lastFailure()?.detail).toBe('unknown, used or expired state');
    expect((await jar.fetch(callback)).status).toBe(303);
  });

  it('refuses a replayed callback: the state is single-use', async () => {
    const { jar, callback } = await attempt('alice');
    expect((await jar.fetch(callback)).status).toBe(303);
    await expectRefused(await jar.fetch(callback), 400, EXPIRED);
  });

  it('refuses a callback carried to another browser, and burns the state', async () => {
    const { jar, callback } = await attempt('alice');
    const thief = new CookieJar();
    await expectRefused(await thief.fetch(callback), 400, EXPIRED);
    expect(lastFailure()?.detail).toBe('browser binding mismatch');
    // The rightful browser cannot use it either now: one use, whoever made it.
    await expectRefused(await jar.fetch(callback), 400, EXPIRED);
  });

  it('refuses a callback whose binding cookie was swapped for another valid one', async () => {
    const { jar, callback } = await attempt('alice');
    const other = new CookieJar();
    await begin(other);
    jar.set(app.url, 'portcullis_oidc', other.get(app.url, 'portcullis_oidc') as string);
    await expectRefused(await jar.fetch(callback), 400, EXPIRED);
  });

  it('refuses an ID token whose nonce does not match the one sent', async () => {
    const jar = new CookieJar();
    const authorization = await begin(jar);
    await rewriteAttempt(authorization, (data) => ({ ...data, nonce: oidc.randomNonce() }));
    const callback = await signInAtProvider(jar, authorization, 'alice');
    await expectRefused(await jar.fetch(callback), 400, CHECKS_FAILED);
    expect(lastFailure()?.detail).toMatch(/nonce/);
  });

  it('fails cleanly when the PKCE verifier is missing (the provider refuses the code)', async () => {
    const jar = new CookieJar();
    const authorization = await begin(jar);
    await rewriteAttempt(authorization, (data) => ({ ...data, verifier: null }));
    const callback = await signInAtProvider(jar, authorization, 'alice');
    await expectRefused(await jar.fetch(callback), 400, CHECKS_FAILED);
    expect(lastFailure()?.detail).toMatch(/invalid_grant/);
  });

  it('fails cleanly when the PKCE verifier is wrong', async () => {
    const jar = new CookieJar();
    const authorization = await begin(jar);
    await rewriteAttempt(authorization, (data) => ({
      ...data,
      verifier: oidc.randomPKCECodeVerifier(),
    }));
    const callback = await signInAtProvider(jar, authorization, 'alice');
    await expectRefused(await jar.fetch(callback), 400, CHECKS_FAILED);
  });

  it('refuses a state started by another login method', async () => {
    const jar = new CookieJar();
    const authorization = await begin(jar);
    await rewriteAttempt(authorization, (data) => ({ ...data, method: 'google_oauth' }));
    const callback = await signInAtProvider(jar, authorization, 'alice');
    await expectRefused(await jar.fetch(callback), 400, EXPIRED);
  });

  it('refuses an expired ID token (checked on the injected clock)', async () => {
    const { jar, callback } = await attempt('alice');
    clock.offsetMs = 3 * 60_000;
    try {
      await expectRefused(await jar.fetch(callback), 400, CHECKS_FAILED);
      expect(lastFailure()?.detail).toMatch(/exp/);
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('refuses an attempt older than ten minutes', async () => {
    const { jar, callback } = await attempt('alice');
    clock.offsetMs = 11 * 60_000;
    try {
      await expectRefused(await jar.fetch(callback), 400, EXPIRED);
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('refuses a validly signed ID token issued to another client (audience)', async () => {
    const jar = new CookieJar();
    const authorization = await begin(jar);
    const nonce = new URL(authorization).searchParams.get('nonce') as string;
    // The other relying party gets a real ID token for the same person and the same nonce.
    const verifier = oidc.randomPKCECodeVerifier();
    const otherAuthorization = new URL(`${provider.issuer}/auth`);
    otherAuthorization.search = new URLSearchParams({
      client_id: CLIENTS.other.id,
      redirect_uri: OTHER_REDIRECT,
      response_type: 'code',
      scope: 'openid email',
      nonce,
      state: 'other-state',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const otherCallback = new URL(
      await signInAtProvider(new CookieJar(), otherAuthorization.href, 'alice'),
    );
    const token = await fetch(`${provider.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${CLIENTS.other.id}:${CLIENTS.other.secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: otherCallback.searchParams.get('code') as string,
        redirect_uri: OTHER_REDIRECT,
        code_verifier: verifier,
      }).toString(),
    });
    const foreign = ((await token.json()) as { id_token: string }).id_token;
    const payload = JSON.parse(
      Buffer.from(foreign.split('.')[1] as string, 'base64url').toString(),
    );
    expect(payload.aud).toBe(CLIENTS.other.id);
    expect(payload.nonce).toBe(nonce);

    provider.tamperToken = (body) => ({ ...body, id_token: foreign });
    try {
      const callback = await signInAtProvider(jar, authorization, 'alice');
      await expectRefused(await jar.fetch(callback), 400, CHECKS_FAILED);
      expect(lastFailure()?.detail).toMatch(/aud|azp/);
    } finally {
      provider.tamperToken = null;
    }
  });

  it('refuses a callback whose iss parameter names another issuer (mix-up, RFC 9207)', async () => {
    const { jar, callback } = await attempt('alice');
    const mixed = new URL(callback);
    expect(mixed.searchParams.get('iss')).toBe(provider.issuer);
    mixed.searchParams.set('iss', 'https://evil.example.com');
    await expectRefused(await jar.fetch(mixed.href), 400, CHECKS_FAILED);
  });

  it('refuses a code that is not the one the provider issued', async () => {
    const { jar, callback } = await attempt('alice');
    const bad = new URL(callback);
    bad.searchParams.set('code', 'not-a-real-code');
    await expectRefused(await jar.fetch(bad.href), 400, CHECKS_FAILED);
  });

  it('shows a clear page when the person cancels at the provider (error=access_denied)', async () => {
    const jar = new CookieJar();
    const authorization = await begin(jar);
    const callback = await signInAtProvider(jar, authorization, 'alice', { abort: true });
    expect(new URL(callback).searchParams.get('error')).toBe('access_denied');
    await expectRefused(await jar.fetch(callback), 403, 'was cancelled or refused');
  });
});

describe('provider accounts that must not sign in', () => {
  it('refuses an unverified email and creates nothing', async () => {
    const { jar, callback } = await attempt('bob');
    await expectRefused(await jar.fetch(callback), 403, 'has not verified your email address');
    expect(await app.ctx.store.getUserByEmail('bob@example.com')).toBeNull();
    expect(await app.ctx.store.getIdentity(provider.issuer, 'bob')).toBeNull();
  });

  it('never joins an existing account on an unverified email claim (nOAuth)', async () => {
    const victim = await app.ctx.store.createUser({
      id: 'victim-id',
      email: 'victim@example.com',
      name: 'Victim',
      groups: ['finance'],
      active: true,
      verified: true,
      createdAt: Date.now(),
      lastLoginAt: null,
    });
    const { jar, callback } = await attempt('mallory');
    await expectRefused(await jar.fetch(callback), 403, 'has not verified your email address');
    expect(await app.ctx.store.getIdentity(provider.issuer, 'mallory')).toBeNull();
    expect(await app.ctx.store.getUser(victim.id)).toEqual(victim);
  });

  it('refuses a provider account without an email claim', async () => {
    const { jar, callback } = await attempt('nomail');
    await expectRefused(await jar.fetch(callback), 403, 'did not give us a usable email address');
  });

  it('refuses an email with two @ and one with look-alike letters', async () => {
    for (const login of ['twoat', 'unicode']) {
      const { jar, callback } = await attempt(login);
      await expectRefused(await jar.fetch(callback), 403, 'did not give us a usable email address');
    }
    expect(await app.ctx.store.getUserByEmail('two@at@example.com')).toBeNull();
  });

  it('accepts email_verified sent as the string "true"', async () => {
    const { jar, callback } = await attempt('stringy');
    expect((await jar.fetch(callback)).status).toBe(303);
  });

  it('follows auth.signup: invite_only refuses a new address and admits a known one', async () => {
    const refused = await attempt('stranger', inviteOnly);
    await expectRefused(
      await refused.jar.fetch(refused.callback),
      403,
      'new accounts need an invitation',
      inviteOnly,
    );
    expect(await inviteOnly.ctx.store.getUserByEmail('stranger@elsewhere.org')).toBeNull();

    await inviteOnly.ctx.store.createUser({
      id: 'invited-stranger',
      email: 'stranger@elsewhere.org',
      name: 'Invited',
      groups: [],
      active: true,
      verified: false,
      createdAt: Date.now(),
      lastLoginAt: null,
    });
    const admitted = await attempt('stranger', inviteOnly);
    const done = await admitted.jar.fetch(admitted.callback);
    expect(done.status).toBe(303);
    expect((await inviteOnly.ctx.store.getIdentity(provider.issuer, 'stranger'))?.userId).toBe(
      'invited-stranger',
    );
  });
});

describe('PKCE configuration', () => {
  it('with pkce: false against a provider that requires PKCE, shows the provider error as a page', async () => {
    const jar = new CookieJar();
    const authorization = await begin(jar, noPkceAgainstRequired);
    expect(new URL(authorization).searchParams.has('code_challenge')).toBe(false);
    const callback = await signInAtProvider(jar, authorization, 'alice');
    expect(new URL(callback).searchParams.get('error')).toBe('invalid_request');
    await expectRefused(
      await jar.fetch(callback),
      502,
      'could not sign you in (it answered “invalid_request”)',
      noPkceAgainstRequired,
    );
  });

  it('with pkce: false for a client registered without PKCE, signs in', async () => {
    const { jar, authorization, callback } = await attempt('alice', noPkce);
    expect(new URL(authorization).searchParams.has('code_challenge')).toBe(false);
    const done = await jar.fetch(callback);
    expect(done.status).toBe(303);
  });
});

describe('hostile callback and start parameters', () => {
  const cases: [string, string][] = [
    ['script in state', 'code=abc&state=%3Cscript%3Ealert(1)%3C%2Fscript%3E'],
    ['repeated state', 'code=abc&state=one&state=two'],
    ['html in error', 'error=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&state=zzz'],
    [
      'header injection in error',
      'error=access_denied%0d%0aSet-Cookie%3A%20portcullis_session%3Dx',
    ],
    ['non-UTF-8 bytes', 'code=%FF%FE&state=%C0%AF%80'],
    ['oversize state', `code=abc&state=${'s'.repeat(8000)}`],
    ['empty values', 'code=&state=&error='],
    ['only a state', 'state=abc'],
    [
      'error description phishing',
      'error=server_error&error_description=Call%20%2B1-555-0100%20now&state=x',
    ],
    ['NUL bytes', 'code=%00&state=%00%00'],
  ];
  for (const [name, query] of cases) {
    it(`answers a page, never a 500, for ${name}`, async () => {
      const jar = new CookieJar();
      await begin(jar);
      const response = await jar.fetch(`${app.url}/auth/oidc?${query}`);
      expect([400, 403, 502]).toContain(response.status);
      expect(response.headers.get('content-type')).toContain('text/html');
      expect(response.headers.get('set-cookie') ?? '').not.toContain('portcullis_session=');
      const body = await response.text();
      expect(body).not.toContain('<script>alert');
      expect(body).not.toContain('<img src=x');
      expect(body).not.toContain('+1-555-0100');
      expect(body).toContain('class="message error"');
    });
  }

  it('sends the browser only to safe places afterwards, whatever rd the start carried', async () => {
    for (const rd of [
      'https://evil.example.com/',
      '//evil.example.com',
      'javascript:alert(1)',
      '/\\evil',
    ]) {
      const jar = new CookieJar();
      const authorization = await begin(jar, app, rd);
      const callback = await signInAtProvider(jar, authorization, 'alice');
      const done = await jar.fetch(callback);
      expect(done.status).toBe(303);
      expect(done.headers.get('location')).toBe('/');
    }
  });

  it('limits how many sign-ins one address may start per minute, and only that address', async () => {
    // Start of a fresh minute window on the app's clock, so the count cannot straddle two.
    clock.offsetMs = Math.ceil(Date.now() / 60_000) * 60_000 + 1000 - Date.now();
    try {
      const statuses = await Promise.all(
        Array.from({ length: START_LIMIT.limit + 5 }, () =>
          fetch(`${app.url}/auth/oidc`, {
            redirect: 'manual',
            headers: { 'x-forwarded-for': '10.200.0.1' },
          }).then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          }),
        ),
      );
      expect(statuses.filter((s) => s === 302)).toHaveLength(START_LIMIT.limit);
      expect(statuses.filter((s) => s === 429)).toHaveLength(5);
      const other = await fetch(`${app.url}/auth/oidc`, {
        redirect: 'manual',
        headers: { 'x-forwarded-for': '10.200.0.2' },
      });
      expect(other.status).toBe(302);
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('survives a burst of forged callbacks and still signs in afterwards', async () => {
    const jar = new CookieJar();
    await begin(jar);
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        fetch(`${app.url}/auth/oidc?code=c${i}&state=forged${i}`, {
          headers: { cookie: jar.header(app.url) },
        }),
      ),
    );
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([400]));
    await Promise.all(answers.map((a) => a.arrayBuffer()));
    const { jar: fresh, callback } = await attempt('alice');
    expect((await fresh.fetch(callback)).status).toBe(303);
  });
});
