import { readFileSync } from 'node:fs';
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { User } from '../../src/ports/store.js';
import { readCorpus } from '../fixtures/read-corpus.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { formToken } from '../helpers/form-token.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

/**
 * The passkey routes over real HTTP with a software authenticator: enrolment for a signed-in
 * session (CSRF token in a header, our Origin only), discoverable sign-in ending in a session
 * with amr [passkey], the offer after a link sign-in, and what must be refused: forged calls,
 * replays, a wrong origin, another user's credential, a challenge used twice or expired, a
 * deactivated user, a removed passkey, a counter that went back.
 */
const ORIGIN = 'https://auth.example.com';
const CHROME_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const clock = new ManualClock(Date.now());
let app: TestApp;
let ipCounter = 0;

interface Call {
  status: number;
  body: Record<string, unknown>;
  cookies: Map<string, string>;
}

function freshIp(): string {
  ipCounter += 1;
  return `10.77.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`;
}

function cookiesOf(response: Response): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';')[0] as string;
    const eq = pair.indexOf('=');
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

async function call(
  path: string,
  body: unknown,
  options: { cookie?: string; csrf?: string; headers?: Record<string, string>; ip?: string } = {},
): Promise<Call> {
  const headers: Record<string, string> = {
    origin: ORIGIN,
    'sec-fetch-site': 'same-origin',
    'content-type': 'application/json',
    accept: 'application/json',
    'user-agent': CHROME_MAC,
    'x-forwarded-for': options.ip ?? freshIp(),
    ...options.headers,
  };
  if (options.cookie) headers.cookie = options.cookie;
  if (options.csrf) headers['x-csrf-token'] = options.csrf;
  const response = await fetch(`${app.url}/auth/passkey${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers,
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    cookies: cookiesOf(response),
  };
}

const join = (...parts: (string | undefined)[]) => parts.filter(Boolean).join('; ');

/** A signed-in browser: its session cookie and the session-bound CSRF token. */
async function signedIn(email: string): Promise<{ cookie: string; csrf: string }> {
  const session = await app.login(email);
  const cookie = `portcullis_session=${session}`;
  const { token } = await formToken(app.url, cookie);
  return { cookie, csrf: token };
}

/** Enrols a passkey from `auth` for the signed-in browser; returns the verify call. */
async function enrol(
  who: { cookie: string; csrf: string },
  auth: SoftAuthenticator,
  tamper: Parameters<SoftAuthenticator['register']>[1] = {},
  userAgent = CHROME_MAC,
): Promise<Call> {
  const headers = { 'user-agent': userAgent };
  const options = await call('/register/options', {}, { ...who, headers });
  expect(options.status).toBe(200);
  const challenge = options.cookies.get('portcullis_passkey_register');
  expect(challenge).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  const response = auth.register(
    options.body.options as PublicKeyCredentialCreationOptionsJSON,
    tamper,
  );
  return call(
    '/register',
    { response, rd: `${ORIGIN}/done` },
    {
      ...who,
      cookie: join(who.cookie, `portcullis_passkey_register=${challenge}`),
      headers,
    },
  );
}

/** Sign-in options and the challenge cookie that goes with them. */
async function loginOptions(
  ip?: string,
): Promise<{ options: PublicKeyCredentialRequestOptionsJSON; cookie: string }> {
  const result = await call('/login/options', {}, { ip });
  expect(result.status).toBe(200);
  const challenge = result.cookies.get('portcullis_passkey_login');
  expect(challenge).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  return {
    options: result.body.options as PublicKeyCredentialRequestOptionsJSON,
    cookie: `portcullis_passkey_login=${challenge}`,
  };
}

/** One whole discoverable sign-in with `auth`'s credential `id` (default: its first). */
async function signIn(
  auth: SoftAuthenticator,
  options: { id?: string; rd?: string; tamper?: Parameters<SoftAuthenticator['assert']>[2] } = {},
): Promise<Call> {
  const { options: request, cookie } = await loginOptions();
  const response = auth.assert(request, options.id, options.tamper);
  return call('/login', { response, rd: options.rd ?? `${ORIGIN}/notes` }, { cookie });
}

async function user(email: string): Promise<User> {
  return (await app.ctx.store.getUserByEmail(email)) as User;
}

beforeAll(async () => {
  app = await startTestApp(
    {
      server: { public_url: ORIGIN },
      auth: { enabled_auth: ['magic_link', 'passkey'], magic_link: { mailer: 'manual' } },
    },
    { clock },
  );
});

afterAll(async () => {
  await app?.close();
});

describe('registration', () => {
  it('stores a passkey named after the browser and system, and audits it', async () => {
    const alice = await signedIn('reg-alice@example.com');
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    const result = await enrol(alice, auth);
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ redirect: `${ORIGIN}/done`, name: 'Chrome on macOS' });
    // The challenge cookie is cleared with the answer.
    expect(result.cookies.get('portcullis_passkey_register')).toBe('');
    const id = (await user('reg-alice@example.com')).id;
    const stored = await app.ctx.passkeys.list(id);
    expect(stored.map((p) => p.name)).toEqual(['Chrome on macOS']);
    expect(stored[0]?.id).toBe([...auth.credentials.keys()][0]);
    const trail = (await app.ctx.audit.recent(id)) ?? [];
    expect(trail.some((e) => e.event === 'account.passkey_registered')).toBe(true);
  });

  it('options exclude the passkeys the user already has', async () => {
    const bob = await signedIn('reg-bob@example.com');
    const auth = new SoftAuthenticator({ origin: ORIGIN });
    expect((await enrol(bob, auth)).status).toBe(200);
    const again = await call('/register/options', {}, bob);
    const options = again.body.options as PublicKeyCredentialCreationOptionsJSON;
    expect(options.excludeCredentials?.map((c) => c.id)).toEqual([...auth.credentials.keys()]);
    expect(options.authenticatorSelection).toMatchObject({
      residentKey: 'required',
      userVerification: 'required',
    });
    expect(options.rp.id).toBe('auth.example.com');
  });

  it('needs a session', async () => {
    const result = await call('/register/options', {}, { csrf: 'x'.repeat(43) });
    expect(result.status).toBe(401);
    expect(result.body.error).toBe('unauthenticated');
  });

  const calls = JSON.parse(
    readFileSync(new URL('../fixtures/passkey-script-calls.json', import.meta.url), 'utf8'),
  ) as {
    cases: {
      name: string;
      headers: Record<string, string>;
      csrf: 'own' | 'other' | 'cookie' | null;
      status: number;
    }[];
  };

  it.each(calls.cases)('refuses a forged registration call: $name', async (entry) => {
    const carol = await signedIn('forge-carol@example.com');
    const other = await signedIn('forge-other@example.com');
    const csrf = {
      own: carol.csrf,
      other: other.csrf,
      cookie: 'c'.repeat(43),
      null: undefined,
    }[String(entry.csrf) as 'own' | 'other' | 'cookie' | 'null'];
    const headers: Record<string, string> = {
      origin: '',
      'sec-fetch-site': '',
      ...entry.headers,
    };
    // An empty value here means "send no such header at all".
    const send = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''));
    for (const path of ['/register/options', '/register']) {
      const response = await fetch(`${app.url}/auth/passkey${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          accept: 'application/json',
          cookie: join(carol.cookie, `portcullis_csrf=${'c'.repeat(43)}`),
          ...(csrf ? { 'x-csrf-token': csrf } : {}),
          ...send,
        },
        body: '{}',
      });
      expect(response.status, `${path}`).toBe(entry.status);
    }
    const id = (await user('forge-carol@example.com')).id;
    expect(await app.ctx.passkeys.list(id)).toEqual([]);
  });

  it.each(calls.cases.filter((entry) => entry.csrf === 'own'))(
    'refuses a forged sign-in call: $name',
    async (entry) => {
      const headers = { origin: '', 'sec-fetch-site': '', ...entry.headers };
      const send = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''));
      for (const path of ['/login/options', '/login']) {
        const response = await fetch(`${app.url}/auth/passkey${path}`, {
          method: 'POST',
          redirect: 'manual',
          headers: { accept: 'application/json', 'x-forwarded-for': freshIp(), ...send },
          body: '{}',
        });
        expect(response.status, path).toBe(entry.status);
        expect(response.headers.getSetCookie().join()).not.toContain('portcullis_passkey_login=');
      }
    },
  );

  it("refuses a credential ID registered to another user, and the other user's challenge", async () => {
    const dan = await signedIn('dan@example.com');
    const danAuth = new SoftAuthenticator({ origin: ORIGIN });
    expect((await enrol(dan, danAuth)).status).toBe(200);
    const danCredential = [...danAuth.credentials.keys()][0] as string;

    const eve = await signedIn('eve@example.com');
    const eveAuth = new SoftAuthenticator({ origin: ORIGIN });
    const stolen = await enrol(eve, eveAuth, { credentialId: danCredential });
    expect(stolen.status).toBe(409);
    const eveId = (await user('eve@example.com')).id;
    expect(await app.ctx.passkeys.list(eveId)).toEqual([]);
    const danId = (await user('dan@example.com')).id;
    expect((await app.ctx.passkeys.list(danId)).map((p) => p.id)).toEqual([danCredential]);

    // A registration challenge issued to Dan's session does not complete Eve's.
    const options = await call('/register/options', {}, dan);
    const challenge = options.cookies.get('portcullis_passkey_register') as string;
    const response = eveAuth.register(
      options.body.options as PublicKeyCredentialCreationOptionsJSON,
    );
    const crossed = await call(
      '/register',
      { response },
      { ...eve, cookie: join(eve.cookie, `portcullis_passkey_register=${challenge}`) },
    );
    expect(crossed.status).toBe(400);
    expect(await app.ctx.passkeys.list(eveId)).toEqual([]);
  });

  it('refuses a registration made for another origin', async () => {
    const fay = await signedIn('fay@example.com');
    const wrong = await enrol(fay, new SoftAuthenticator({ origin: 'https://evil.example.net' }));
    expect(wrong.status).toBe(400);
    const rp = await enrol(fay, new SoftAuthenticator({ origin: ORIGIN }), { rpId: 'evil.net' });
    expect(rp.status).toBe(400);
    expect(await app.ctx.passkeys.list((await user('fay@example.com')).id)).toEqual([]);
  });
});

describe('sign-in', () => {
  let auth: SoftAuthenticator;
  let gina: { cookie: string; csrf: string };

  beforeAll(async () => {
    gina = await signedIn('gina@example.com');
    auth = new SoftAuthenticator({ origin: ORIGIN });
    expect((await enrol(gina, auth)).status).toBe(200);
  });

  it('starts a passkey session (amr [passkey]) and answers where to go', async () => {
    const result = await signIn(auth, { rd: `${ORIGIN}/notes?x=1` });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ redirect: `${ORIGIN}/notes?x=1` });
    expect(result.cookies.get('portcullis_passkey_login')).toBe('');
    const session = result.cookies.get('portcullis_session') as string;
    expect(session).toBeTruthy();
    const lookup = await app.ctx.sessions.resolve(session);
    expect(lookup?.kind).toBe('valid');
    if (lookup?.kind !== 'valid') return;
    expect(lookup.live.user.email).toBe('gina@example.com');
    expect(lookup.live.session.method).toBe('passkey');
    expect(lookup.live.session.amr).toEqual(['passkey']);
    const me = await fetch(`${app.url}/auth/me`, {
      headers: { cookie: `portcullis_session=${session}` },
    });
    expect(((await me.json()) as { session: { method: string } }).session.method).toBe('passkey');
    const stored = await app.ctx.passkeys.list(lookup.live.user.id);
    expect(stored[0]?.lastUsedAt).toBe(clock.now());
  });

  it('options ask for a discoverable credential with user verification', async () => {
    const { options } = await loginOptions();
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.userVerification).toBe('required');
    expect(options.rpId).toBe('auth.example.com');
  });

  it('refuses a replayed assertion', async () => {
    const { options, cookie } = await loginOptions();
    const response = auth.assert(options);
    const first = await call('/login', { response }, { cookie });
    expect(first.status).toBe(200);
    // The same bytes again: the challenge is spent.
    const again = await call('/login', { response }, { cookie });
    expect(again.status).toBe(400);
    // ... and with a fresh challenge the old signature does not cover it.
    const fresh = await loginOptions();
    const replayed = await call('/login', { response }, { cookie: fresh.cookie });
    expect(replayed.status).toBe(401);
    expect(replayed.cookies.has('portcullis_session')).toBe(false);
  });

  it('refuses a challenge used twice, even with two valid assertions', async () => {
    const { options, cookie } = await loginOptions();
    const one = await call('/login', { response: auth.assert(options) }, { cookie });
    expect(one.status).toBe(200);
    const two = await call('/login', { response: auth.assert(options) }, { cookie });
    expect(two.status).toBe(400);
    expect(two.cookies.has('portcullis_session')).toBe(false);
  });

  it('refuses an expired challenge', async () => {
    const { options, cookie } = await loginOptions();
    clock.advance(5 * 60_000 + 1);
    const late = await call('/login', { response: auth.assert(options) }, { cookie });
    expect(late.status).toBe(400);
    expect(late.cookies.has('portcullis_session')).toBe(false);
  });

  it('refuses a sign-in without the challenge cookie', async () => {
    const { options } = await loginOptions();
    const result = await call('/login', { response: auth.assert(options) });
    expect(result.status).toBe(400);
  });

  it('refuses an assertion made on another origin or for another RP ID', async () => {
    const origin = await signIn(auth, { tamper: { origin: 'https://evil.example.net' } });
    expect(origin.status).toBe(401);
    expect(origin.cookies.has('portcullis_session')).toBe(false);
    const rpId = await signIn(auth, { tamper: { rpId: 'example.net' } });
    expect(rpId.status).toBe(401);
    const framed = await signIn(auth, { tamper: { crossOrigin: true } });
    expect(framed.status).toBe(401);
  });

  it("refuses another user's credential presented as someone else's", async () => {
    const hank = await signedIn('hank@example.com');
    const hankAuth = new SoftAuthenticator({ origin: ORIGIN });
    expect((await enrol(hank, hankAuth)).status).toBe(200);
    const hankId = (await user('hank@example.com')).id;
    // Gina's valid signature, with Hank's user handle: not Gina's credential's owner.
    const result = await signIn(auth, {
      tamper: { userHandle: Buffer.from(hankId).toString('base64url') },
    });
    expect(result.status).toBe(401);
    expect(result.cookies.has('portcullis_session')).toBe(false);
  });

  it('refuses a counter that went back, and audits it on the owner', async () => {
    const ivy = await signedIn('ivy@example.com');
    const ivyAuth = new SoftAuthenticator({ origin: ORIGIN });
    expect((await enrol(ivy, ivyAuth)).status).toBe(200);
    expect((await signIn(ivyAuth)).status).toBe(200);
    expect((await signIn(ivyAuth)).status).toBe(200);
    const cloned = await signIn(ivyAuth, { tamper: { counter: 1 } });
    expect(cloned.status).toBe(401);
    expect(cloned.cookies.has('portcullis_session')).toBe(false);
    const trail = (await app.ctx.audit.recent((await user('ivy@example.com')).id)) ?? [];
    const failed = trail.find((e) => e.event === 'auth.login_failed');
    expect(failed?.detail).toMatchObject({
      method: 'passkey',
      reason: 'passkey_refused',
      detail: 'counter_regressed (Chrome on macOS)',
    });
  });

  it('refuses a deactivated user at once, with a clear message', async () => {
    const jo = await signedIn('jo@example.com');
    const joAuth = new SoftAuthenticator({ origin: ORIGIN });
    expect((await enrol(jo, joAuth)).status).toBe(200);
    const before = await user('jo@example.com');
    await app.ctx.store.updateUser({ ...before, active: false });
    const result = await signIn(joAuth);
    expect(result.status).toBe(403);
    expect(result.body.message).toMatch(/deactivated/);
    expect(result.cookies.has('portcullis_session')).toBe(false);
    const trail = (await app.ctx.audit.recent(before.id)) ?? [];
    expect(trail.find((e) => e.event === 'auth.login_failed')?.detail).toMatchObject({
      detail: 'inactive_user (Chrome on macOS)',
    });
  });

  it('refuses a removed passkey and tells the browser which one it was', async () => {
    const kim = await signedIn('kim@example.com');
    const kimAuth = new SoftAuthenticator({ origin: ORIGIN });
    expect((await enrol(kim, kimAuth)).status).toBe(200);
    expect((await signIn(kimAuth)).status).toBe(200);
    const id = [...kimAuth.credentials.keys()][0] as string;
    await app.ctx.passkeys.remove((await user('kim@example.com')).id, id);
    const result = await signIn(kimAuth);
    expect(result.status).toBe(401);
    expect(result.body.unknown_credential).toEqual({
      rpId: 'auth.example.com',
      credentialId: id,
    });
    expect(result.cookies.has('portcullis_session')).toBe(false);
  });

  it('sends every hostile rd to / (the script navigates to what it is told)', async () => {
    const corpus = readCorpus(new URL('../fixtures/open-redirects.txt', import.meta.url));
    for (const entry of corpus) {
      const result = await signIn(auth, { rd: entry.value });
      expect(result.status, `line ${entry.line}`).toBe(200);
      expect(result.body.redirect, `line ${entry.line}: ${entry.source}`).toBe('/');
    }
  });

  it('refuses malformed bodies as 400 without a session', async () => {
    for (const body of [null, [], 'x', { response: 'x' }, { response: {}, rd: 5 }, {}]) {
      const { cookie } = await loginOptions();
      const result = await call('/login', body, { cookie });
      expect([400, 401]).toContain(result.status);
      expect(result.cookies.has('portcullis_session')).toBe(false);
    }
  });

  it('limits sign-in options per client address', async () => {
    const ip = freshIp();
    let last = 0;
    for (let i = 0; i < 61; i++) last = (await call('/login/options', {}, { ip })).status;
    expect(last).toBe(429);
  });
});

describe('the offer after a link sign-in', () => {
  /** Redeems a one-time link as a browser (its User-Agent) would; returns the answer. */
  async function redeem(email: string, rd: string, extraCookie = '', userAgent = CHROME_MAC) {
    const url = new URL(await app.ctx.loginLinks.issue(email, rd));
    const csrf = 'c'.repeat(43);
    return fetch(`${app.url}/auth/magic`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: join(`portcullis_csrf=${csrf}`, extraCookie),
        'user-agent': userAgent,
      },
      body: new URLSearchParams({ token: url.searchParams.get('token') as string, csrf }),
    });
  }

  it('asks a browser without a passkey, keeping rd', async () => {
    const response = await redeem('offer-lee@example.com', `${ORIGIN}/wiki?page=1`);
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(
      `/auth/passkey/enrol?rd=${encodeURIComponent(`${ORIGIN}/wiki?page=1`)}`,
    );
    const session = cookiesOf(response).get('portcullis_session') as string;
    const page = await fetch(
      `${app.url}/auth/passkey/enrol?rd=${encodeURIComponent(`${ORIGIN}/wiki?page=1`)}`,
      {
        headers: { cookie: `portcullis_session=${session}`, 'user-agent': CHROME_MAC },
      },
    );
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await page.text();
    expect(html).toContain('Sign in faster next time on this device?');
    expect(html).toContain('It will be named “Chrome on macOS”');
    expect(html).toContain(`data-rd="${ORIGIN}/wiki?page=1"`);
    expect(html).not.toMatch(/<script>|\son[a-z]+=/i);
  });

  it('"Not now" goes on to rd and this browser is not asked again', async () => {
    const first = await redeem('offer-max@example.com', `${ORIGIN}/a`);
    const session = cookiesOf(first).get('portcullis_session') as string;
    const cookie = `portcullis_session=${session}`;
    const { token } = await formToken(app.url, cookie);
    const skip = await fetch(`${app.url}/auth/passkey/enrol/skip`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie,
        origin: ORIGIN,
        'sec-fetch-site': 'same-origin',
      },
      body: new URLSearchParams({ csrf: token, rd: `${ORIGIN}/a` }),
    });
    expect(skip.status).toBe(303);
    expect(skip.headers.get('location')).toBe(`${ORIGIN}/a`);
    const later = skip.headers
      .getSetCookie()
      .find((c) => c.startsWith('portcullis_passkey_later='));
    expect(later).toMatch(/Max-Age=2592000/);
    expect(later).toMatch(/Path=\/auth/);
    const again = await redeem(
      'offer-max@example.com',
      `${ORIGIN}/b`,
      'portcullis_passkey_later=1',
    );
    expect(again.headers.get('location')).toBe(`${ORIGIN}/b`);
  });

  it('"Not now" needs the CSRF token from a browser', async () => {
    const response = await fetch(`${app.url}/auth/passkey/enrol/skip`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'https://evil.example.net',
      },
      body: new URLSearchParams({ rd: '/' }),
    });
    expect(response.status).toBe(403);
  });

  it('does not ask when the user has a passkey named after this browser', async () => {
    const nia = await signedIn('offer-nia@example.com');
    expect((await enrol(nia, new SoftAuthenticator({ origin: ORIGIN }))).status).toBe(200);
    const same = await redeem('offer-nia@example.com', `${ORIGIN}/c`);
    expect(same.headers.get('location')).toBe(`${ORIGIN}/c`);
    // Another browser on another system is asked.
    const other = await redeem('offer-nia@example.com', `${ORIGIN}/c`, '', FIREFOX_LINUX);
    expect(other.headers.get('location')).toMatch(/^\/auth\/passkey\/enrol\?rd=/);
  });

  it('does not ask a client that is no browser', async () => {
    const response = await redeem('offer-cli@example.com', `${ORIGIN}/d`, '', 'curl/8.5.0');
    expect(response.headers.get('location')).toBe(`${ORIGIN}/d`);
  });

  it('validates rd on the offer and on "Not now"', async () => {
    const first = await redeem('offer-rd@example.com', `${ORIGIN}/e`);
    const cookie = `portcullis_session=${cookiesOf(first).get('portcullis_session')}`;
    const { token } = await formToken(app.url, cookie);
    const corpus = readCorpus(new URL('../fixtures/open-redirects.txt', import.meta.url));
    for (const entry of corpus) {
      const page = await fetch(
        `${app.url}/auth/passkey/enrol?rd=${encodeURIComponent(entry.value)}`,
        { headers: { cookie, 'user-agent': CHROME_MAC } },
      );
      expect(await page.text(), `line ${entry.line}`).toContain('data-rd="/"');
      const skip = await fetch(`${app.url}/auth/passkey/enrol/skip`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ csrf: token, rd: entry.value }),
      });
      expect(skip.headers.get('location'), `line ${entry.line}: ${entry.source}`).toBe('/');
    }
  });

  it('signed out, the offer page goes straight on', async () => {
    const response = await fetch(
      `${app.url}/auth/passkey/enrol?rd=${encodeURIComponent(`${ORIGIN}/f`)}`,
      {
        redirect: 'manual',
      },
    );
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${ORIGIN}/f`);
  });
});

describe('login page and scripts', () => {
  it('offers the passkey button (hidden until the script shows it) and autofill', async () => {
    const response = await fetch(`${app.url}/auth/login?rd=${encodeURIComponent(`${ORIGIN}/g`)}`);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    const html = await response.text();
    expect(html).toMatch(/<script src="\/auth\/passkey\/webauthn\.js\?v=[\w-]+" defer><\/script>/);
    expect(html).toMatch(/<script src="\/auth\/passkey\/passkey\.js\?v=[\w-]+" defer><\/script>/);
    expect(html).toContain('autocomplete="username webauthn"');
    expect(html).toMatch(/<div class="needs-script" data-needs-webauthn hidden>/);
    expect(html).toContain('Sign in with a passkey');
    expect(html).not.toMatch(/<script>|\son[a-z]+=/i);
  });

  it('serves both scripts as JavaScript', async () => {
    for (const name of ['webauthn.js', 'passkey.js']) {
      const response = await fetch(`${app.url}/auth/passkey/${name}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
    const library = await (await fetch(`${app.url}/auth/passkey/webauthn.js`)).text();
    expect(library).toContain('SimpleWebAuthnBrowser');
  });

  it('without passkey in enabled_auth: no routes, no scripts', async () => {
    const plain = await startTestApp({ server: { public_url: ORIGIN } });
    try {
      const page = await fetch(`${plain.url}/auth/login`);
      expect(page.headers.get('content-security-policy')).not.toContain('script-src');
      const html = await page.text();
      expect(html).not.toContain('<script');
      expect(html).not.toContain('webauthn');
      const route = await fetch(`${plain.url}/auth/passkey/login/options`, { method: 'POST' });
      expect(route.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
