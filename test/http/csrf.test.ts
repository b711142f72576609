import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/core/password.js';
import { formToken } from '../helpers/form-token.js';
import { type LoggedApp, sessionCookieOf, startLoggedApp } from '../helpers/mail-app.js';

/**
 * The CSRF rule seen from outside (src/http/csrf.ts): a client that posts exactly the SPEC's
 * fields and is not a browser (no `Origin`, no `Sec-Fetch-Site`) gets through; a browser-shaped
 * request from elsewhere without our token is refused with 403 and changes nothing; our own forms
 * (token + same-origin headers) keep working; the admin panel always wants the token.
 */
const PUBLIC = 'https://auth.example.com';
const CSRF = 'v'.repeat(43);
const PASSWORD = 'correct horse';

/** Browser-shaped headers that must not get through without a valid token. */
const HOSTILE: [string, Record<string, string>][] = [
  ['Origin: https://evil.example', { origin: 'https://evil.example' }],
  ['Origin: null', { origin: 'null' }],
  ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
  ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
  [
    'Sec-Fetch-Site: same-origin with a foreign Origin',
    { 'sec-fetch-site': 'same-origin', origin: 'https://evil.example' },
  ],
  ['Sec-Fetch-Site: none', { 'sec-fetch-site': 'none' }],
  ['our Origin from a browser that sends no Sec-Fetch-Site', { origin: PUBLIC }],
];

/** What our own page's form sends from a current browser. */
const OWN_PAGE = { origin: PUBLIC, 'sec-fetch-site': 'same-origin' };

let app: LoggedApp;
let ip = 0;

beforeAll(async () => {
  app = await startLoggedApp({
    server: { public_url: PUBLIC },
    auth: {
      enabled_auth: ['magic_link', 'basic'],
      magic_link: { mailer: 'log' },
      basic: { users: [{ email: 'pat@example.com', password_hash: await hashPassword(PASSWORD) }] },
    },
    admin: { emails: ['root@example.com'] },
  });
});

afterAll(async () => {
  await app?.close();
});

/** A form POST with exactly the given headers and fields, from its own client address. */
function post(
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  ip += 1;
  return fetch(`${app.url}/auth${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-forwarded-for': `10.77.${Math.floor(ip / 250)}.${ip % 250}`,
      ...headers,
    },
    body: new URLSearchParams(fields).toString(),
  });
}

/**
 * The same, with the token our pages hand this client: bound to the session when there is one,
 * else to the `__Host-` cookie the page sets (public_url is https).
 */
async function postWithToken(
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
  session?: string,
): Promise<Response> {
  const form = await formToken(app.url, session ? `portcullis_session=${session}` : '');
  return post(path, { ...fields, csrf: form.token }, { ...headers, cookie: form.cookie });
}

const mailsTo = (email: string) =>
  app.logs.filter((l) => l.event === 'magic_link_logged' && l.to === email).length;

async function linkToken(email: string): Promise<string> {
  const url = new URL(await app.ctx.loginLinks.issue(email, '/'));
  return url.searchParams.get('token') as string;
}

async function signedIn(session: string): Promise<boolean> {
  const me = await fetch(`${app.url}/auth/me`, {
    headers: { cookie: `portcullis_session=${session}`, accept: 'application/json' },
  });
  await me.arrayBuffer();
  return me.status === 200;
}

async function newSession(email: string): Promise<string> {
  const response = await post('/magic', { token: await linkToken(email) });
  const session = sessionCookieOf(response);
  if (!session) throw new Error(`no session: ${response.status}`);
  return session;
}

describe('clients that post only the SPEC’s fields (no Origin, no Sec-Fetch-Site)', () => {
  it('POST /auth/magic_link with email and rd sends the link', async () => {
    const response = await post('/magic_link', { email: 'curl@example.com', rd: '/' });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Check your email');
    expect(mailsTo('curl@example.com')).toBe(1);
  });

  it('POST /auth/basic with email and password signs in', async () => {
    const response = await post('/basic', { email: 'pat@example.com', password: PASSWORD });
    expect(response.status).toBe(303);
    expect(sessionCookieOf(response)).not.toBeNull();
  });

  it('POST /auth/magic with the token signs in', async () => {
    const response = await post('/magic', { token: await linkToken('token@example.com') });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/');
    expect(sessionCookieOf(response)).not.toBeNull();
  });

  it('POST /auth/logout ends this session; ?everywhere=1 ends them all', async () => {
    const one = await newSession('leaver@example.com');
    const two = await newSession('leaver@example.com');
    const out = await post('/logout', {}, { cookie: `portcullis_session=${one}` });
    expect(out.status).toBe(303);
    expect(await signedIn(one)).toBe(false);
    expect(await signedIn(two)).toBe(true);

    const three = await newSession('leaver@example.com');
    const everywhere = await post(
      '/logout?everywhere=1',
      {},
      { cookie: `portcullis_session=${three}` },
    );
    expect(everywhere.status).toBe(303);
    expect(await signedIn(two)).toBe(false);
    expect(await signedIn(three)).toBe(false);
  });
});

describe.each(HOSTILE)('a browser-shaped request without the token (%s)', (_name, headers) => {
  it('POST /auth/magic_link is refused and sends nothing', async () => {
    const email = `hostile-${ip}@example.com`;
    const response = await post('/magic_link', { email, rd: '/' }, headers);
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('reload the page');
    expect(mailsTo(email)).toBe(0);
    expect(await app.ctx.store.getUserByEmail(email)).toBeNull();
  });

  it('POST /auth/basic is refused and signs no one in', async () => {
    const response = await post(
      '/basic',
      { email: 'pat@example.com', password: PASSWORD },
      headers,
    );
    expect(response.status).toBe(403);
    expect(sessionCookieOf(response)).toBeNull();
  });

  it('POST /auth/magic is refused and leaves the token usable', async () => {
    const token = await linkToken('kept@example.com');
    const response = await post('/magic', { token }, headers);
    expect(response.status).toBe(403);
    expect(sessionCookieOf(response)).toBeNull();
    expect(sessionCookieOf(await post('/magic', { token }))).not.toBeNull();
  });

  it('POST /auth/logout (and ?everywhere=1) is refused and the session lives on', async () => {
    const session = await newSession('stayer@example.com');
    for (const path of ['/logout', '/logout?everywhere=1']) {
      const response = await post(
        path,
        {},
        { ...headers, cookie: `portcullis_session=${session}` },
      );
      expect(response.status, path).toBe(403);
      expect(response.headers.getSetCookie().join()).not.toContain('portcullis_session=;');
    }
    expect(await signedIn(session)).toBe(true);
  });
});

describe('browser-shaped requests', () => {
  it('our own forms (token, our Origin, same-origin) keep working on every route', async () => {
    const asked = await postWithToken(
      '/magic_link',
      { email: 'form@example.com', rd: '/' },
      OWN_PAGE,
    );
    expect(asked.status).toBe(200);
    expect(mailsTo('form@example.com')).toBe(1);
    const basic = await postWithToken(
      '/basic',
      { email: 'pat@example.com', password: PASSWORD, rd: '/' },
      OWN_PAGE,
    );
    expect(sessionCookieOf(basic)).not.toBeNull();
    const magic = await postWithToken(
      '/magic',
      { token: await linkToken('form@example.com') },
      OWN_PAGE,
    );
    const session = sessionCookieOf(magic) as string;
    expect(session).not.toBeNull();
    const out = await postWithToken('/logout', {}, OWN_PAGE, session);
    expect(out.status).toBe(303);
    expect(await signedIn(session)).toBe(false);
  });

  it('a same-origin request without the token passes when its Origin is ours or absent', async () => {
    const withOrigin = await post('/magic', { token: await linkToken('so@example.com') }, OWN_PAGE);
    expect(sessionCookieOf(withOrigin)).not.toBeNull();
    const noOrigin = await post(
      '/magic',
      { token: await linkToken('so@example.com') },
      { 'sec-fetch-site': 'same-origin' },
    );
    expect(sessionCookieOf(noOrigin)).not.toBeNull();
  });

  it('Origin: null passes with a valid token (it names no site), cross-site too', async () => {
    const nullOrigin = await postWithToken(
      '/magic',
      { token: await linkToken('null@example.com') },
      { origin: 'null', 'sec-fetch-site': 'same-origin' },
    );
    expect(sessionCookieOf(nullOrigin)).not.toBeNull();
    const crossSite = await postWithToken(
      '/magic',
      { token: await linkToken('null@example.com') },
      { 'sec-fetch-site': 'cross-site' },
    );
    expect(sessionCookieOf(crossSite)).not.toBeNull();
  });

  it('a foreign Origin is refused even with a valid token', async () => {
    const token = await linkToken('foreign@example.com');
    const response = await postWithToken('/magic', { token }, { origin: 'https://evil.example' });
    expect(response.status).toBe(403);
    expect(sessionCookieOf(await post('/magic', { token }))).not.toBeNull();
  });

  it('a wrong token does not count as a token', async () => {
    const response = await post(
      '/magic',
      { token: await linkToken('wrong@example.com'), csrf: 'w'.repeat(43) },
      { cookie: `portcullis_csrf=${CSRF}`, 'sec-fetch-site': 'cross-site' },
    );
    expect(response.status).toBe(403);
  });
});

describe('the admin panel always wants the token', () => {
  it('refuses a change without it — curl-shaped or same-origin — and accepts it with it', async () => {
    const root = await newSession('root@example.com');
    const target = await app.ctx.users.findOrCreate('target@example.com');
    const fields = { action: 'deactivate', user: target.id, confirm: 'yes' };
    for (const headers of [{}, OWN_PAGE]) {
      const response = await post('/admin', fields, {
        ...headers,
        cookie: `portcullis_session=${root}`,
      });
      expect(response.status).toBe(403);
      expect((await app.ctx.store.getUser(target.id))?.active).toBe(true);
    }
    const done = await postWithToken('/admin', fields, OWN_PAGE, root);
    expect(done.status).toBe(200);
    expect((await app.ctx.store.getUser(target.id))?.active).toBe(false);
  });
});
