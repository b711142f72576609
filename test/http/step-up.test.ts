import { request } from 'node:http';
import { connect } from 'node:net';
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainCommand } from '../../src/cli/explain.js';
import { ManualClock } from '../../src/core/clock.js';
import type { User } from '../../src/ports/store.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { formToken } from '../helpers/form-token.js';
import { websocketHandshake } from '../helpers/raw-request.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

/*
 * access.rules[].require over HTTP: a session signed in by link meets a `require: [passkey]` or
 * `[mfa]` rule with the login answer of each dialect and `step_up=` in the login URL; the
 * step-up page offers what the account has; a passkey of this user (never another's) or, for
 * mfa, a TOTP code computed from the enrolled secret lifts the session; the check then lets it
 * in. Also: adding a passkey with an old session needs a fresh proof first.
 */

const ORIGIN = 'https://auth.example.com';
const VAULT = 'https://vault.example.com/secrets?x=1';
const MFA = 'https://mfa.example.com/board';
const clock = new ManualClock(Date.now());
let app: TestApp;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(base: string, path: string, headers: [string, string][]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    for (const [name, value] of headers) req.setHeader(name, value);
    req.end();
  });
}

/** How each check endpoint is told the URL asked about. */
function described(path: string, url: string): [string, string][] {
  const u = new URL(url);
  if (path === '/auth/nginx' || path === '/api/verify') {
    return [
      ['X-Original-URL', url],
      ['X-Original-Method', 'GET'],
    ];
  }
  if (path === '/oauth2/auth') {
    return [
      ['Host', u.host],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Uri', `${u.pathname}${u.search}`],
      ['X-Forwarded-Method', 'GET'],
    ];
  }
  return [
    ['X-Forwarded-Method', 'GET'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Host', u.host],
    ['X-Forwarded-Uri', `${u.pathname}${u.search}`],
    ['Accept', 'text/html'],
    ['Sec-Fetch-Mode', 'navigate'],
  ];
}

const check = (path: string, url: string, session: string) =>
  send(app.url, path, [...described(path, url), ['Cookie', `portcullis_session=${session}`]]);

/** The login URL a refused check names, whatever the dialect's wording. */
function loginUrlOf(reply: Reply): string | null {
  const location = reply.headers.location;
  if (typeof location === 'string') return location;
  try {
    const json = JSON.parse(reply.body) as { login_url?: string };
    return json.login_url ?? null;
  } catch {
    return null;
  }
}

const stepUpLogin = (rd: string, need: string) =>
  `${ORIGIN}/auth/login?rd=${encodeURIComponent(rd)}&step_up=${need}`;

async function user(email: string): Promise<User> {
  return app.ctx.users.findOrCreate(email);
}

/** A passkey for `who`, registered through the service; the device that holds it. */
async function passkeyFor(who: User): Promise<SoftAuthenticator> {
  const device = new SoftAuthenticator({ origin: ORIGIN });
  const { options, challengeId } = await app.ctx.passkeys.registrationOptions(who);
  const result = await app.ctx.passkeys.verifyRegistration(
    who.id,
    challengeId,
    device.register(options),
    'Test key',
  );
  if (!result.ok) throw new Error(`registration refused: ${result.reason}`);
  return device;
}

function codeAt(secret: string, at: number): string {
  return new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate({
    timestamp: at,
  });
}

async function totpFor(who: User): Promise<string> {
  const begun = await app.ctx.secondFactors.beginTotpEnrolment(who);
  if (!begun.ok) throw new Error('TOTP enrolment refused');
  const confirmed = await app.ctx.secondFactors.confirmTotpEnrolment(
    who.id,
    codeAt(begun.secret, clock.now()),
  );
  if (!confirmed.ok) throw new Error(`TOTP confirmation refused: ${confirmed.reason}`);
  clock.advance(30_000);
  return begun.secret;
}

/** The step-up page for a session, and its session-bound CSRF token. */
async function stepUpPage(
  session: string,
  rd: string,
  need: string,
): Promise<{ status: number; text: string; csrf: string }> {
  const response = await fetch(
    `${app.url}/auth/login?rd=${encodeURIComponent(rd)}&step_up=${need}`,
    { headers: { cookie: `portcullis_session=${session}` } },
  );
  const text = await response.text();
  // The session-bound token (the same on every page of this session).
  const { token } = await formToken(app.url, `portcullis_session=${session}`);
  return { status: response.status, text, csrf: token };
}

async function json(
  path: string,
  body: unknown,
  cookie: string,
  csrf: string,
): Promise<{ status: number; body: Record<string, unknown>; setCookie: string[] }> {
  const response = await fetch(`${app.url}/auth${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      origin: ORIGIN,
      'sec-fetch-site': 'same-origin',
      'content-type': 'application/json',
      accept: 'application/json',
      'x-csrf-token': csrf,
      cookie,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    setCookie: response.headers.getSetCookie(),
  };
}

/** The passkey step-up as the page's script runs it, with `device`'s credential `id`. */
async function passkeyStepUp(
  session: string,
  device: SoftAuthenticator,
  rd: string,
  need = 'passkey',
  id?: string,
) {
  const page = await stepUpPage(session, rd, need);
  const cookie = `portcullis_session=${session}`;
  const options = await json('/passkey/step-up/options', {}, cookie, page.csrf);
  if (options.status !== 200) return options;
  const challenge = /portcullis_passkey_step_up=([^;]+)/.exec(options.setCookie.join('\n'))?.[1];
  const response = device.assert(
    options.body.options as PublicKeyCredentialRequestOptionsJSON,
    id ?? [...device.credentials.keys()][0],
  );
  return json(
    `/passkey/step-up?need=${need}`,
    { response, rd },
    `${cookie}; portcullis_passkey_step_up=${challenge}`,
    page.csrf,
  );
}

async function totpStepUp(
  session: string,
  rd: string,
  need: string,
  fields: Record<string, string>,
) {
  const page = await stepUpPage(session, rd, need);
  return fetch(`${app.url}/auth/totp/step-up`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      origin: ORIGIN,
      'sec-fetch-site': 'same-origin',
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `portcullis_session=${session}`,
    },
    body: new URLSearchParams({ csrf: page.csrf, rd, need, ...fields }).toString(),
  });
}

beforeAll(async () => {
  app = await startTestApp(
    {
      server: { public_url: ORIGIN },
      session: { cookie_domain: '.example.com' },
      admin: { emails: ['admin@example.com'] },
      auth: { enabled_auth: ['magic_link', 'passkey'], magic_link: { mailer: 'manual' } },
      access: {
        default_policy: 'authenticated',
        rules: [
          { host: 'vault.example.com', require: ['passkey'] },
          { host: 'mfa.example.com', require: ['mfa'] },
        ],
      },
    },
    { clock },
  );
});

afterAll(async () => {
  await app?.close();
});

const CHECKS = ['/auth/nginx', '/auth/traefik', '/api/verify', '/oauth2/auth'];

describe('a link session on a require: [passkey] rule', () => {
  it('gets the login answer with step_up=passkey on every check endpoint', async () => {
    await user('alice@example.com');
    const session = await app.login('alice@example.com');
    for (const path of CHECKS) {
      const reply = await check(path, VAULT, session);
      expect([401, 302], path).toContain(reply.status);
      expect(loginUrlOf(reply), path).toBe(stepUpLogin(VAULT, 'passkey'));
    }
    // A rule without require lets the same session in.
    expect((await check('/auth/nginx', 'https://other.example.com/', session)).status).toBe(200);
  });

  it('is let in after a passkey step-up of its own user, with its identity', async () => {
    const alice = await user('alice@example.com');
    const device = await passkeyFor(alice);
    const session = await app.login('alice@example.com');
    const page = await stepUpPage(session, VAULT, 'passkey');
    expect(page.status).toBe(200);
    expect(page.text).toContain('This page asks for a passkey');
    expect(page.text).toContain('/auth/passkey/step-up/options');
    const result = await passkeyStepUp(session, device, VAULT);
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ redirect: VAULT });
    for (const path of CHECKS) {
      const reply = await check(path, VAULT, session);
      expect([200, 202], path).toContain(reply.status);
      const email = reply.headers['remote-email'] ?? reply.headers['x-auth-request-email'];
      expect(email, path).toBe('alice@example.com');
    }
    // mfa is met by the passkey as well.
    expect((await check('/auth/nginx', MFA, session)).status).toBe(200);
    const trail = (await app.ctx.audit.recent(alice.id)) ?? [];
    expect(trail.some((e) => e.event === 'auth.step_up' && e.outcome === 'success')).toBe(true);
    // The page now only says it is done.
    expect((await stepUpPage(session, VAULT, 'passkey')).text).toContain('already shown it');
  });

  it("cannot be lifted with another user's passkey", async () => {
    const bob = await user('bob@example.com');
    const mallory = await user('mallory@example.com');
    await passkeyFor(bob);
    const malloryDevice = await passkeyFor(mallory);
    const session = await app.login('bob@example.com');
    const result = await passkeyStepUp(
      session,
      malloryDevice,
      VAULT,
      'passkey',
      [...malloryDevice.credentials.keys()][0],
    );
    expect(result.status).toBe(401);
    expect(String(result.body.message)).toContain('bob@example.com');
    expect((await check('/auth/nginx', VAULT, session)).status).toBe(401);
    const amr = (await app.ctx.store.listUserSessions(bob.id)).flatMap((s) => s.amr ?? []);
    expect(amr).not.toContain('passkey');
    const trail = (await app.ctx.audit.recent(bob.id)) ?? [];
    expect(
      trail.some(
        (e) =>
          e.event === 'auth.step_up' && e.outcome === 'failure' && e.detail.detail === 'wrong_user',
      ),
    ).toBe(true);
  });

  it('refuses a step-up call without the session-bound CSRF token or from another origin', async () => {
    const carl = await user('carl@example.com');
    await passkeyFor(carl);
    const session = await app.login('carl@example.com');
    const cookie = `portcullis_session=${session}`;
    expect((await json('/passkey/step-up/options', {}, cookie, 'x'.repeat(43))).status).toBe(403);
    const page = await stepUpPage(session, VAULT, 'passkey');
    const foreign = await fetch(`${app.url}/auth/passkey/step-up/options`, {
      method: 'POST',
      headers: {
        origin: 'https://evil.example.net',
        'content-type': 'application/json',
        'x-csrf-token': page.csrf,
        cookie,
      },
      body: '{}',
    });
    expect(foreign.status).toBe(403);
  });

  it('tells a user without a passkey so, and where to add one', async () => {
    await user('nopasskey@example.com');
    const session = await app.login('nopasskey@example.com');
    const page = await stepUpPage(session, VAULT, 'passkey');
    expect(page.text).toContain('Your account has no passkey yet');
    expect(page.text).toContain('href="/auth/account"');
    const options = await json(
      '/passkey/step-up/options',
      {},
      `portcullis_session=${session}`,
      page.csrf,
    );
    expect(options.status).toBe(409);
  });

  it('without a session, the login page is the normal sign-in page', async () => {
    const response = await fetch(
      `${app.url}/auth/login?rd=${encodeURIComponent(VAULT)}&step_up=passkey`,
    );
    const text = await response.text();
    expect(text).toContain('<h1>Sign in</h1>');
    expect(text).not.toContain('asks for a passkey');
  });
});

describe('TOTP', () => {
  it('meets an mfa rule, not a passkey rule', async () => {
    const dora = await user('dora@example.com');
    const secret = await totpFor(dora);
    const session = await app.login('dora@example.com');
    const refused = await check('/auth/nginx', MFA, session);
    expect(refused.status).toBe(401);
    expect(loginUrlOf(refused)).toBe(stepUpLogin(MFA, 'mfa'));
    const page = await stepUpPage(session, MFA, 'mfa');
    expect(page.text).toContain('This page asks for a second step');
    expect(page.text).toContain('action="/auth/totp/step-up"');
    const done = await totpStepUp(session, MFA, 'mfa', { code: codeAt(secret, clock.now()) });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(MFA);
    expect((await check('/auth/nginx', MFA, session)).status).toBe(200);
    // The same code again: refused as replayed.
    const again = await totpStepUp(session, MFA, 'mfa', { code: codeAt(secret, clock.now()) });
    expect(again.status).toBe(401);
    // A passkey rule is not met by the code.
    const vault = await check('/auth/nginx', VAULT, session);
    expect(vault.status).toBe(401);
    expect(loginUrlOf(vault)).toBe(stepUpLogin(VAULT, 'passkey'));
    const passkeyPage = await stepUpPage(session, VAULT, 'passkey');
    expect(passkeyPage.text).not.toContain('action="/auth/totp/step-up"');
    expect(passkeyPage.text).toContain('only a passkey counts');
    clock.advance(30_000);
    const forced = await totpStepUp(session, VAULT, 'passkey', {
      code: codeAt(secret, clock.now()),
    });
    expect(forced.status).toBe(400);
    expect((await check('/auth/nginx', VAULT, session)).status).toBe(401);
  });

  it('throttles wrong codes and audits the failures', async () => {
    const eve = await user('eve@example.com');
    const secret = await totpFor(eve);
    const session = await app.login('eve@example.com');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      statuses.push((await totpStepUp(session, MFA, 'mfa', { code: '000000' })).status);
    }
    // Five tries per window (the enrolment's confirming code may be one of them, when the
    // window did not roll over since), then 429 for every try.
    const first429 = statuses.indexOf(429);
    expect([4, 5]).toContain(first429);
    expect(statuses.slice(0, first429).every((status) => status === 401)).toBe(true);
    expect(statuses.slice(first429).every((status) => status === 429)).toBe(true);
    // Even the right code waits out the limit.
    const right = await totpStepUp(session, MFA, 'mfa', { code: codeAt(secret, clock.now()) });
    expect(right.status).toBe(429);
    expect((await check('/auth/nginx', MFA, session)).status).toBe(401);
    const trail = (await app.ctx.audit.recent(eve.id)) ?? [];
    expect(trail.filter((e) => e.event === 'auth.step_up' && e.outcome === 'failure').length).toBe(
      8,
    );
  });
});

describe('explain', () => {
  it('the CLI and the admin page name the passkey the rule requires', async () => {
    await user('alice@example.com');
    const lines = await explainCommand(app.ctx.config, {
      url: VAULT,
      method: 'GET',
      user: 'alice@example.com',
    });
    expect(lines.join('\n')).toMatch(/passkey/);
    const admin = await app.login('admin@example.com');
    const alice = await user('alice@example.com');
    const query = new URLSearchParams({ user: alice.id, explain_url: VAULT });
    const page = await fetch(`${app.url}/auth/admin?${query}`, {
      headers: { cookie: `portcullis_session=${admin}` },
    });
    const text = await page.text();
    const result = /<dl id="explain-result"[\s\S]*?<\/dl>/.exec(text)?.[0] ?? '';
    expect(result).toMatch(/passkey/);
  });
});

describe('adding a passkey with an old session', () => {
  it('needs a fresh proof first; a step-up gives one', async () => {
    const fay = await user('fay@example.com');
    const device = await passkeyFor(fay);
    const session = await app.login('fay@example.com');
    const cookie = `portcullis_session=${session}`;
    const fresh = await stepUpPage(session, '/', 'passkey');
    // Right after sign-in: adding a passkey is fine.
    expect((await json('/passkey/register/options', {}, cookie, fresh.csrf)).status).toBe(200);
    clock.advance(16 * 60_000);
    const stale = await json('/passkey/register/options', {}, cookie, fresh.csrf);
    expect(stale.status).toBe(403);
    expect(stale.body.error).toBe('step_up_required');
    expect(stale.body.step_up).toBe(
      `/auth/login?rd=${encodeURIComponent('/auth/account')}&step_up=recent`,
    );
    const enrolPage = await fetch(`${app.url}/auth/passkey/enrol?rd=%2Fauth%2Faccount`, {
      redirect: 'manual',
      headers: { cookie },
    });
    expect(enrolPage.status).toBe(303);
    expect(enrolPage.headers.get('location')).toContain('step_up=recent');
    const confirm = await stepUpPage(session, '/auth/account', 'recent');
    expect(confirm.text).toContain('Confirm it is you');
    // A new link is offered, filled in with the address; not focused, the passkey comes first.
    expect(confirm.text).toContain('value="fay@example.com"');
    expect(confirm.text).toMatch(/id="magic-email"[^>]*>/);
    expect(confirm.text).not.toMatch(/id="magic-email"[^>]*autofocus/);
    const result = await passkeyStepUp(session, device, '/auth/account', 'recent');
    expect(result.status).toBe(200);
    expect((await json('/passkey/register/options', {}, cookie, fresh.csrf)).status).toBe(200);
  });
});

describe('proxy mode', () => {
  let upstream: EchoUpstream;
  let proxy: TestApp;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    proxy = await startTestApp({
      server: { public_url: 'http://app.test' },
      proxy: { upstream: upstream.url, timeout: '1s' },
      auth: { enabled_auth: ['magic_link', 'passkey'] },
      access: { rules: [{ path: '/vault/**', require: ['passkey'] }] },
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('asks for the step-up on the request and upgrade paths, then lets the session in', async () => {
    const session = await proxy.login('gus@example.com');
    const headers: [string, string][] = [
      ['Host', 'app.test'],
      ['Cookie', `portcullis_session=${session}`],
    ];
    const login = `http://app.test/auth/login?rd=${encodeURIComponent('http://app.test/vault/1')}&step_up=passkey`;
    const nav = await send(proxy.url, '/vault/1', [
      ...headers,
      ['Accept', 'text/html'],
      ['Sec-Fetch-Mode', 'navigate'],
    ]);
    expect(nav.status).toBe(302);
    expect(nav.headers.location).toBe(login);
    const api = await send(proxy.url, '/vault/1', [...headers, ['Accept', 'application/json']]);
    expect(api.status).toBe(401);
    expect(JSON.parse(api.body).login_url).toBe(login);
    const upgrade = await rawUpgrade(proxy.url, '/vault/1', session);
    expect(upgrade).toMatch(/^HTTP\/1\.1 401/);
    expect(upgrade).toContain(JSON.stringify(login.replace('/vault/1', '/vault/1')).slice(1, -1));
    expect(upstream.requests.length).toBe(0);
    // The step-up itself is tested above; here the session gains the factor directly.
    const gus = (await proxy.ctx.store.getUserByEmail('gus@example.com')) as User;
    const [stored] = await proxy.ctx.store.listUserSessions(gus.id);
    await proxy.ctx.sessions.stepUp(stored?.id as string, ['passkey']);
    const after = await send(proxy.url, '/vault/1', headers);
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body).headers['remote-email']).toBe('gus@example.com');
  });
});

/** A WebSocket handshake through the proxy; the answer's head and body as text. */
function rawUpgrade(base: string, path: string, session: string): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(websocketHandshake(path, session));
    });
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}
