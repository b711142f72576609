import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import type { App } from '../../src/app.js';
import { type Clock, ManualClock } from '../../src/core/clock.js';
import { hashPassword } from '../../src/core/password.js';
import type { User } from '../../src/ports/store.js';
import { LoginLinks } from '../../src/services/login-links.js';
import { readCorpus } from '../fixtures/read-corpus.js';
import { TEST_SECRET } from './app.js';
import { formToken } from './form-token.js';
import { CookieJar, cookieValue, startInjectedApp } from './inject-app.js';
import { type LogLine, startLoggedApp } from './mail-app.js';
import { waitFor } from './ports.js';
import { rawRequest } from './raw-request.js';
import { type RedisServer, startRedis } from './redis.js';
import { BASIC, ENV as SCIM_ENV, USER } from './scim.js';

/**
 * The login hostile tables, written once and run over two transports: real sockets
 * (test/http/*, `socketClient`) and in-process requests handed to the app's request handler
 * (test/unit/login-tables.test.ts, `injectedClient`). A table registers its own `describe`/`it`
 * blocks and starts its own app through the `StartClient` it is given.
 */

/** One request, sent with exactly these headers; redirects are not followed. */
export interface ClientRequest {
  method?: string;
  /** Path and query, e.g. `/auth/login?rd=%2F`. */
  path: string;
  /** An array value is one header line per entry (two `Cookie` lines, say), as on the wire. */
  headers?: Record<string, string | string[]>;
  body?: string;
}

/** A running portcullis as the tables see it, whatever carries the requests. */
export interface LoginClient extends App {
  /** Every log line so far, parsed (the `log` mailer prints links there). */
  logs: LogLine[];
  request(request: ClientRequest): Promise<Response>;
  /** POST /auth/magic_link as a browser form would, with a valid CSRF pair. */
  askForLink(email: string): Promise<Response>;
  /** Signs `email` in through a freshly issued link; returns the session cookie value. */
  login(email: string): Promise<string>;
  /** POST /auth/magic with the token from a link, with a valid CSRF pair; 303 either way. */
  redeem(link: string): Promise<Response>;
  /** What one of our pages hands a client for its forms: the csrf field and cookie to send back. */
  formToken(cookie?: string, path?: string): Promise<{ token: string; cookie: string }>;
}

/** Starts portcullis with `config` (secret key added, info logs kept) behind one transport. */
export type StartClient = (
  config: Record<string, unknown>,
  options?: { env?: Record<string, string | undefined>; clock?: Clock },
) => Promise<LoginClient>;

/** Sends one request over its own socket; repeated header lines go out as written. */
async function socketRequest(url: string, req: ClientRequest): Promise<Response> {
  const headers = Object.entries(req.headers ?? {});
  if (!headers.some(([, value]) => Array.isArray(value)))
    return fetch(`${url}${req.path}`, {
      method: req.method ?? 'GET',
      redirect: 'manual',
      headers: req.headers as Record<string, string>,
      body: req.body,
    });
  // fetch and node:http merge repeated lines: write them out by hand.
  const lines = headers.flatMap(([name, value]): [string, string][] =>
    (Array.isArray(value) ? value : [value]).map((one) => [name, one]),
  );
  const reply = await rawRequest(url, req.method ?? 'GET', req.path, lines, req.body);
  const answer = new Headers();
  for (const [name, value] of reply.headers) answer.append(name, value);
  const empty = [101, 103, 204, 205, 304].includes(reply.status);
  return new Response(empty ? null : reply.body, { status: reply.status, headers: answer });
}

/** Over a real socket: node's HTTP parser included, requests sent by fetch. */
export const socketClient: StartClient = async (config, options) => {
  const app = await startLoggedApp(config, options);
  return {
    ...app,
    request: (req) => socketRequest(app.url, req),
    askForLink: (email) => app.askForLink(email),
    redeem: (link) => app.redeem(link),
    async login(email) {
      const answer = await app.redeem(await app.ctx.loginLinks.issue(email, '/'));
      const value = sessionOf(answer);
      if (!value) throw new Error(`login failed: ${answer.status}`);
      return value;
    },
    formToken: (cookie, path) => formToken(app.url, cookie, path),
  };
};

/** In-process (light-my-request): same app and handlers, no socket. */
export const injectedClient: StartClient = (config, options) => startInjectedApp(config, options);

const COOKIE = 'portcullis_session';
const sessionOf = (response: Response) => cookieValue(response, COOKIE) || null;

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/** The link of the `count`-th `log` mailer line to `email`, once it is there. */
async function loggedLink(app: LoginClient, email: string, count = 1): Promise<string> {
  const lines = () => app.logs.filter((l) => l.event === 'magic_link_logged' && l.to === email);
  await waitFor(() => lines().length >= count, 10_000, `a logged link to ${email}`);
  const msg = String(lines()[count - 1]?.msg);
  return msg.slice(msg.lastIndexOf(' ') + 1);
}

const mailsTo = (app: LoginClient, email: string) =>
  app.logs.filter((l) => l.event === 'magic_link_logged' && l.to === email).length;

async function signedIn(app: LoginClient, session: string): Promise<boolean> {
  const me = await app.request({
    path: '/auth/me',
    headers: { cookie: `${COOKIE}=${session}`, accept: 'application/json' },
  });
  await me.arrayBuffer();
  return me.status === 200;
}

/**
 * The CSRF rule seen from outside (src/http/csrf.ts): a client that posts exactly the SPEC's
 * fields and is not a browser (no `Origin`, no `Sec-Fetch-Site`) gets through; a browser-shaped
 * request from elsewhere without our token is refused with 403 and changes nothing; our own forms
 * (token + same-origin headers) keep working; the admin panel always wants the token.
 */
export function csrfTable(start: StartClient): void {
  const PUBLIC = 'https://auth.example.com';
  const CSRF = 'v'.repeat(43);
  const PASSWORD = 'correct horse';
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
  const OWN_PAGE = { origin: PUBLIC, 'sec-fetch-site': 'same-origin' };

  let app: LoginClient;
  let ip = 0;

  beforeAll(async () => {
    app = await start({
      server: { public_url: PUBLIC },
      auth: {
        enabled_auth: ['magic_link', 'basic'],
        magic_link: { mailer: 'log' },
        basic: {
          users: [{ email: 'pat@example.com', password_hash: await hashPassword(PASSWORD) }],
        },
      },
      admin: { emails: ['root@example.com'] },
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  function post(
    path: string,
    fields: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    ip += 1;
    return app.request({
      method: 'POST',
      path: `/auth${path}`,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-forwarded-for': `10.77.${Math.floor(ip / 250)}.${ip % 250}`,
        ...headers,
      },
      body: form(fields),
    });
  }

  async function postWithToken(
    path: string,
    fields: Record<string, string>,
    headers: Record<string, string> = {},
    session?: string,
  ): Promise<Response> {
    const token = await app.formToken(session ? `${COOKIE}=${session}` : '');
    return post(path, { ...fields, csrf: token.token }, { ...headers, cookie: token.cookie });
  }

  async function linkToken(email: string): Promise<string> {
    const url = new URL(await app.ctx.loginLinks.issue(email, '/'));
    return url.searchParams.get('token') as string;
  }

  async function newSession(email: string): Promise<string> {
    const response = await post('/magic', { token: await linkToken(email) });
    const session = sessionOf(response);
    if (!session) throw new Error(`no session: ${response.status}`);
    return session;
  }

  describe('clients that post only the SPEC’s fields (no Origin, no Sec-Fetch-Site)', () => {
    it('POST /auth/magic_link with email and rd sends the link', async () => {
      const response = await post('/magic_link', { email: 'curl@example.com', rd: '/' });
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('Check your email');
      expect(mailsTo(app, 'curl@example.com')).toBe(1);
    });

    it('POST /auth/basic with email and password signs in', async () => {
      const response = await post('/basic', { email: 'pat@example.com', password: PASSWORD });
      expect(response.status).toBe(303);
      expect(sessionOf(response)).not.toBeNull();
    });

    it('POST /auth/magic with the token signs in', async () => {
      const response = await post('/magic', { token: await linkToken('token@example.com') });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/');
      expect(sessionOf(response)).not.toBeNull();
    });

    it('POST /auth/logout ends this session; ?everywhere=1 ends them all', async () => {
      const one = await newSession('leaver@example.com');
      const two = await newSession('leaver@example.com');
      const out = await post('/logout', {}, { cookie: `${COOKIE}=${one}` });
      expect(out.status).toBe(303);
      expect(await signedIn(app, one)).toBe(false);
      expect(await signedIn(app, two)).toBe(true);

      const three = await newSession('leaver@example.com');
      const everywhere = await post('/logout?everywhere=1', {}, { cookie: `${COOKIE}=${three}` });
      expect(everywhere.status).toBe(303);
      expect(await signedIn(app, two)).toBe(false);
      expect(await signedIn(app, three)).toBe(false);
    });
  });

  describe.each(HOSTILE)('a browser-shaped request without the token (%s)', (_name, headers) => {
    it('POST /auth/magic_link is refused and sends nothing', async () => {
      const email = `hostile-${ip}@example.com`;
      const response = await post('/magic_link', { email, rd: '/' }, headers);
      expect(response.status).toBe(403);
      expect(await response.text()).toContain('reload the page');
      expect(mailsTo(app, email)).toBe(0);
      expect(await app.ctx.store.getUserByEmail(email)).toBeNull();
    });

    it('POST /auth/basic is refused and signs no one in', async () => {
      const fields = { email: 'pat@example.com', password: PASSWORD };
      const response = await post('/basic', fields, headers);
      expect(response.status).toBe(403);
      expect(sessionOf(response)).toBeNull();
    });

    it('POST /auth/magic is refused and leaves the token usable', async () => {
      const token = await linkToken('kept@example.com');
      const response = await post('/magic', { token }, headers);
      expect(response.status).toBe(403);
      expect(sessionOf(response)).toBeNull();
      expect(sessionOf(await post('/magic', { token }))).not.toBeNull();
    });

    it('POST /auth/logout (and ?everywhere=1) is refused and the session lives on', async () => {
      const session = await newSession('stayer@example.com');
      for (const path of ['/logout', '/logout?everywhere=1']) {
        const response = await post(path, {}, { ...headers, cookie: `${COOKIE}=${session}` });
        expect(response.status, path).toBe(403);
        expect(response.headers.getSetCookie().join()).not.toContain(`${COOKIE}=;`);
      }
      expect(await signedIn(app, session)).toBe(true);
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
      expect(mailsTo(app, 'form@example.com')).toBe(1);
      const basic = await postWithToken(
        '/basic',
        { email: 'pat@example.com', password: PASSWORD, rd: '/' },
        OWN_PAGE,
      );
      expect(sessionOf(basic)).not.toBeNull();
      const magic = await postWithToken(
        '/magic',
        { token: await linkToken('form@example.com') },
        OWN_PAGE,
      );
      const session = sessionOf(magic) as string;
      expect(session).not.toBeNull();
      const out = await postWithToken('/logout', {}, OWN_PAGE, session);
      expect(out.status).toBe(303);
      expect(await signedIn(app, session)).toBe(false);
    });

    it('a same-origin request without the token passes when its Origin is ours or absent', async () => {
      const withOrigin = await post(
        '/magic',
        { token: await linkToken('so@example.com') },
        OWN_PAGE,
      );
      expect(sessionOf(withOrigin)).not.toBeNull();
      const noOrigin = await post(
        '/magic',
        { token: await linkToken('so@example.com') },
        { 'sec-fetch-site': 'same-origin' },
      );
      expect(sessionOf(noOrigin)).not.toBeNull();
    });

    it('Origin: null passes with a valid token (it names no site), cross-site too', async () => {
      const nullOrigin = await postWithToken(
        '/magic',
        { token: await linkToken('null@example.com') },
        { origin: 'null', 'sec-fetch-site': 'same-origin' },
      );
      expect(sessionOf(nullOrigin)).not.toBeNull();
      const crossSite = await postWithToken(
        '/magic',
        { token: await linkToken('null@example.com') },
        { 'sec-fetch-site': 'cross-site' },
      );
      expect(sessionOf(crossSite)).not.toBeNull();
    });

    it('a foreign Origin is refused even with a valid token', async () => {
      const token = await linkToken('foreign@example.com');
      const response = await postWithToken('/magic', { token }, { origin: 'https://evil.example' });
      expect(response.status).toBe(403);
      expect(sessionOf(await post('/magic', { token }))).not.toBeNull();
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

  it('the admin panel refuses a change without the token — curl-shaped or same-origin — and accepts it with it', async () => {
    const root = await newSession('root@example.com');
    const target = await app.ctx.users.findOrCreate('target@example.com');
    const fields = { action: 'deactivate', user: target.id, confirm: 'yes' };
    for (const headers of [{}, OWN_PAGE]) {
      const response = await post('/admin', fields, { ...headers, cookie: `${COOKIE}=${root}` });
      expect(response.status).toBe(403);
      expect((await app.ctx.store.getUser(target.id))?.active).toBe(true);
    }
    const done = await postWithToken('/admin', fields, OWN_PAGE, root);
    expect(done.status).toBe(200);
    expect((await app.ctx.store.getUser(target.id))?.active).toBe(false);
  });
}

interface CsrfCorpus {
  planted: string;
  origins: Record<string, string | null>;
  fetchSites: Record<string, string | null>;
  endpoints: string[];
  notForgeries: { origin: string; fetchSite: string; schemes: string[] }[];
}

const csrfCorpus = JSON.parse(
  readFileSync(new URL('../fixtures/csrf-cases.json', import.meta.url), 'utf8'),
) as CsrfCorpus;

interface Combo {
  endpoint: string;
  origin: string;
  fetchSite: string;
}

const combos: Combo[] = csrfCorpus.endpoints.flatMap((endpoint) =>
  Object.keys(csrfCorpus.origins).flatMap((origin) =>
    Object.keys(csrfCorpus.fetchSites).map((fetchSite) => ({ endpoint, origin, fetchSite })),
  ),
);

const SCHEMES = ['https', 'http'] as const;
type Scheme = (typeof SCHEMES)[number];

function isForgery(scheme: Scheme, combo: Combo): boolean {
  if (combo.endpoint.startsWith('admin')) return true;
  return !csrfCorpus.notForgeries.some(
    (n) =>
      n.origin === combo.origin && n.fetchSite === combo.fetchSite && n.schemes.includes(scheme),
  );
}

/**
 * The cookie-tossing corpus (test/fixtures/csrf-cases.json) against every state-changing form:
 * a planted `portcullis_csrf` with the same value in the form never passes for an Origin or a
 * Sec-Fetch-Site that a sibling subdomain's page produces, and nothing changes. The admin panel
 * refuses every combination: it wants the token bound to the admin's session.
 */
export function cookieTossingTable(start: StartClient): void {
  describe.each(SCHEMES)('cookie tossing over %s (csrf-cases.json)', (scheme) => {
    const PASSWORD = 'correct horse';
    let app: LoginClient;
    let ip = 0;

    beforeAll(async () => {
      app = await start({
        server: { public_url: `${scheme}://auth.example.test` },
        session: { cookie_domain: '.example.test' },
        auth: {
          enabled_auth: ['magic_link', 'basic'],
          magic_link: { mailer: 'log' },
          basic: {
            users: [{ email: 'pat@example.test', password_hash: await hashPassword(PASSWORD) }],
          },
        },
        admin: { emails: ['root@example.test'] },
      });
    });
    afterAll(async () => {
      await app?.close();
    });

    async function signIn(email: string): Promise<string> {
      const session = sessionOf(await app.redeem(await app.ctx.loginLinks.issue(email, '/')));
      if (!session) throw new Error(`could not sign ${email} in`);
      return session;
    }

    function forge(
      path: string,
      fields: Record<string, string>,
      combo: Combo,
      session?: string,
    ): Promise<Response> {
      ip += 1;
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        'x-forwarded-for': `10.99.${Math.floor(ip / 250)}.${ip % 250}`,
        cookie: [session ? `${COOKIE}=${session}` : '', `portcullis_csrf=${csrfCorpus.planted}`]
          .filter(Boolean)
          .join('; '),
      };
      const origin = csrfCorpus.origins[combo.origin];
      const fetchSite = csrfCorpus.fetchSites[combo.fetchSite];
      if (origin) headers.origin = origin;
      if (fetchSite) headers['sec-fetch-site'] = fetchSite;
      return app.request({
        method: 'POST',
        path: `/auth${path}`,
        headers,
        body: form({ ...fields, csrf: csrfCorpus.planted }),
      });
    }

    async function refusedAndUnchanged(combo: Combo): Promise<void> {
      const tag = `${combo.origin}-${combo.fetchSite}-${ip}`.replace(/[^a-z0-9-]/g, '');
      const refused = (response: Response) => {
        expect(response.status, `${combo.endpoint} ${combo.origin}/${combo.fetchSite}`).toBe(403);
        expect(response.headers.getSetCookie().join()).not.toContain(`${COOKIE}=`);
      };
      switch (combo.endpoint) {
        case 'admin make_admin':
        case 'admin set_password': {
          const root = await signIn('root@example.test');
          const victim = await app.ctx.users.findOrCreate(`target-${tag}@example.test`);
          const action = combo.endpoint.slice('admin '.length);
          refused(
            await forge(
              '/admin',
              { action, user: victim.id, password: 'planted pass 123' },
              combo,
              root,
            ),
          );
          const after = await app.ctx.store.getUser(victim.id);
          expect(after && app.ctx.users.isAdmin(after)).toBe(false);
          expect(after?.passwordHash).toBeUndefined();
          expect(await signedIn(app, root)).toBe(true);
          return;
        }
        case 'logout':
        case 'logout everywhere': {
          const one = await signIn(`leaver-${tag}@example.test`);
          const two = await signIn(`leaver-${tag}@example.test`);
          const path = combo.endpoint === 'logout' ? '/logout' : '/logout?everywhere=1';
          refused(await forge(path, {}, combo, one));
          expect(await signedIn(app, one)).toBe(true);
          expect(await signedIn(app, two)).toBe(true);
          return;
        }
        case 'magic_link': {
          const email = `asked-${tag}@example.test`;
          refused(await forge('/magic_link', { email, rd: '/' }, combo));
          expect(mailsTo(app, email)).toBe(0);
          expect(await app.ctx.store.getUserByEmail(email)).toBeNull();
          return;
        }
        case 'basic':
          refused(await forge('/basic', { email: 'pat@example.test', password: PASSWORD }, combo));
          return;
        case 'magic': {
          const link = new URL(await app.ctx.loginLinks.issue(`linked-${tag}@example.test`, '/'));
          const token = link.searchParams.get('token') as string;
          refused(await forge('/magic', { token }, combo));
          expect(await app.ctx.loginLinks.peek(token)).not.toBeNull();
          return;
        }
        default:
          throw new Error(`no such endpoint in the corpus: ${combo.endpoint}`);
      }
    }

    it.each(combos.filter((combo) => isForgery(scheme, combo)))(
      '$endpoint, Origin $origin, Sec-Fetch-Site $fetchSite: 403, nothing changes',
      (combo) => refusedAndUnchanged(combo),
    );

    it('the admin panel refuses a planted session cookie beside the admin’s, with the planter’s own token', async () => {
      const root = await signIn('root@example.test');
      const attacker = await signIn(`attacker-${scheme}@example.test`);
      const { token } = await app.formToken(`${COOKIE}=${attacker}`);
      const victim = await app.ctx.users.findOrCreate(`planted-session-${scheme}@example.test`);
      for (const cookie of [
        `${COOKIE}=${attacker}; ${COOKIE}=${root}`,
        `${COOKIE}=${root}; ${COOKIE}=${attacker}`,
      ]) {
        const response = await app.request({
          method: 'POST',
          path: '/auth/admin',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            cookie,
            'sec-fetch-site': 'same-origin',
            origin: 'null',
          },
          body: form({ csrf: token, action: 'make_admin', user: victim.id }),
        });
        expect(response.status).toBe(403);
      }
      const after = await app.ctx.store.getUser(victim.id);
      expect(after && app.ctx.users.isAdmin(after)).toBe(false);
    });

    it('our own pages’ forms still work with the token they hand out (same-origin, Origin: null)', async () => {
      const browser = { 'sec-fetch-site': 'same-origin', origin: 'null' };
      const root = await signIn('root@example.test');
      const victim = await app.ctx.users.findOrCreate(`made-admin-${scheme}@example.test`);
      const panel = await app.formToken(`${COOKIE}=${root}`, '/auth/admin');
      const made = await app.request({
        method: 'POST',
        path: '/auth/admin',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: panel.cookie,
          ...browser,
        },
        body: form({ csrf: panel.token, action: 'make_admin', user: victim.id }),
      });
      expect(made.status).toBe(200);
      const after = await app.ctx.store.getUser(victim.id);
      expect(after && app.ctx.users.isAdmin(after)).toBe(true);

      // The whole browser round trip through a cookie jar: the login page's cookie goes back.
      const jar = new CookieJar();
      const page = await app.request({ path: '/auth/login' });
      jar.take(page);
      const csrf = /name="csrf" value="([A-Za-z0-9_-]{43})"/.exec(await page.text())?.[1];
      expect(csrf).toBeDefined();
      const basic = await app.request({
        method: 'POST',
        path: '/auth/basic',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: jar.header(),
          ...browser,
        },
        body: form({ csrf: csrf as string, email: 'pat@example.test', password: PASSWORD }),
      });
      expect(basic.status).toBe(303);
      expect(jar.take(basic).get(COOKIE)).not.toBeNull();
    });
  });
}

const LINK_USED = '/auth/login?error=link_used';
const TTL = 15 * 60_000;

const sequences = readCorpus(new URL('../fixtures/magic-link-sequences.txt', import.meta.url)).map(
  ({ line, value }) => {
    const bar = value.indexOf(' | ');
    if (bar === -1) throw new Error(`line ${line}: no " | "`);
    return {
      line,
      name: value.slice(0, bar),
      steps: value
        .slice(bar + 3)
        .split(';')
        .map((step) => step.trim().split(/\s+/)),
    };
  },
);

const ADMIN: User = {
  id: 'lifecycle-admin',
  username: 'root',
  email: 'root@example.com',
  name: 'root',
  groups: [],
  active: true,
  verified: true,
  createdAt: 0,
  lastLoginAt: null,
  admin: true,
};

/**
 * test/fixtures/magic-link-sequences.txt: links issued, asked for, used, and the account
 * deactivated, deleted or re-created in between (by SCIM or the admin panel), on both stores.
 */
export function magicLinkLifecycleTable(start: StartClient): void {
  describe.each(['memory', 'redis'] as const)('one-time links on a %s store', (kind) => {
    let redis: RedisServer | null = null;
    let app: LoginClient;
    const clock = new ManualClock();

    beforeAll(async () => {
      if (kind === 'redis') redis = await startRedis();
      app = await start(
        {
          ...(redis ? { store: { url: redis.url } } : {}),
          auth: { magic_link: { mailer: 'log' }, signup: 'open' },
          scim: { enabled: true },
        },
        { env: SCIM_ENV, clock },
      );
    });
    afterAll(async () => {
      await app?.close();
      await redis?.stop();
    });

    const cliLink = (email: string) =>
      new LoginLinks(
        new MemoryStore(clock),
        clock,
        [Buffer.from(TEST_SECRET, 'hex')],
        TTL,
        `${app.url}${app.ctx.config.prefix}`,
      ).issueSigned(email, '/');

    async function scim(method: string, path: string, body?: unknown): Promise<number> {
      const answer = await app.request({
        method,
        path: `/scim/v2${path}`,
        headers: {
          authorization: BASIC,
          ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return answer.status;
    }

    async function userOf(email: string): Promise<User> {
      return (await app.ctx.users.findOrCreate(email)) as User;
    }

    async function adminAction(email: string, action: 'deactivate' | 'activate'): Promise<void> {
      const user = await userOf(email);
      const outcome = await app.ctx.admin.bulk(ADMIN, action, [user.id]);
      expect(outcome.notices.filter((n) => n.kind === 'error')).toEqual([]);
    }

    it.each(sequences)('line $line: $name', async ({ line, steps }) => {
      const email = `seq${line}.${kind}@example.com`;
      const links = new Map<string, string>();
      let asked = 0;
      for (const [verb, arg, expected] of steps) {
        const name = arg as string;
        switch (verb) {
          case 'link':
            await userOf(email);
            links.set(name, await app.ctx.loginLinks.issue(email, '/'));
            break;
          case 'cli':
            await userOf(email);
            links.set(name, cliLink(email));
            break;
          case 'ask':
            asked += 1;
            expect((await app.askForLink(email)).status).toBe(200);
            links.set(name, await loggedLink(app, email, asked));
            break;
          case 'tick':
            clock.advance(1000);
            break;
          case 'deactivate':
          case 'activate':
            if (arg === 'scim') {
              const user = await userOf(email);
              const status = await scim('PATCH', `/Users/${user.id}`, {
                schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
                Operations: [{ op: 'replace', value: { active: verb === 'activate' } }],
              });
              expect(status).toBe(200);
            } else await adminAction(email, verb);
            break;
          case 'delete': {
            const user = await userOf(email);
            expect(await scim('DELETE', `/Users/${user.id}`)).toBe(204);
            break;
          }
          case 'create':
            expect(
              await scim('POST', '/Users', {
                schemas: [USER],
                userName: email,
                emails: [{ value: email, primary: true }],
                active: true,
              }),
            ).toBe(201);
            break;
          case 'redeem': {
            const link = links.get(name);
            if (!link) throw new Error(`line ${line}: no link ${name}`);
            const answer = await app.redeem(link);
            expect(answer.status).toBe(303);
            if (expected === 'ok') {
              expect(answer.headers.get('location')).toBe('/');
              expect(sessionOf(answer)).not.toBeNull();
            } else {
              expect(expected).toBe('void');
              expect(answer.headers.get('location')).toBe(LINK_USED);
              expect(sessionOf(answer)).toBeNull();
            }
            break;
          }
          default:
            throw new Error(`line ${line}: unknown step ${verb}`);
        }
      }
    });
  });
}

const fieldCases = readCorpus(new URL('../fixtures/repeated-form-fields.txt', import.meta.url)).map(
  ({ line, source, value }) => {
    const [path, type, ...body] = value.split(' | ');
    if (!path || !type || body.length === 0)
      throw new Error(`line ${line}: not path | type | body`);
    return { line, source, path, type, body: body.join(' | ') };
  },
);

/** test/fixtures/repeated-form-fields.txt: a login form with a field twice or list-shaped is 400 and sends nothing. */
export function magicLinkFieldShapesTable(start: StartClient): void {
  describe('login forms with repeated or list-shaped fields (repeated-form-fields.txt)', () => {
    const PASSWORD = 'correct-horse-battery';
    let app: LoginClient;
    let ip = 0;
    let csrf = { token: '', cookie: '' };
    const mails = () => app.logs.filter((l) => l.event === 'magic_link_logged').length;

    beforeAll(async () => {
      app = await start({
        auth: {
          enabled_auth: ['magic_link', 'basic'],
          magic_link: { mailer: 'log' },
          signup: 'open',
          basic: {
            users: [{ email: 'ann@example.com', password_hash: await hashPassword(PASSWORD) }],
          },
        },
      });
      csrf = await app.formToken('', '/auth/login');
    });
    afterAll(async () => {
      await app?.close();
    });

    function post(path: string, type: string, body: string, accept = 'text/html') {
      ip += 1;
      return app.request({
        method: 'POST',
        path,
        headers: {
          'content-type': type,
          accept,
          cookie: csrf.cookie,
          'x-forwarded-for': `198.51.100.${ip % 250}`,
        },
        body: body.replaceAll('{csrf}', csrf.token),
      });
    }

    it('is big enough to mean something', () => {
      expect(fieldCases.length).toBeGreaterThanOrEqual(25);
    });

    it('accepts the same forms with each field once', async () => {
      const sent = mails();
      const magic = await post(
        '/auth/magic_link',
        'application/x-www-form-urlencoded',
        'email=ann@example.com&rd=/&csrf={csrf}',
      );
      expect(magic.status).toBe(200);
      await loggedLink(app, 'ann@example.com');
      expect(mails()).toBe(sent + 1);
      const basic = await post(
        '/auth/basic',
        'application/x-www-form-urlencoded',
        `email=ann@example.com&password=${PASSWORD}&rd=/&csrf={csrf}`,
      );
      expect(basic.status).toBe(303);
      expect(sessionOf(basic)).not.toBeNull();
    });

    it('answers a repeated address with the short page, or JSON when JSON is asked for', async () => {
      const body = 'email=ann@example.com&email=bob@example.com&rd=/&csrf={csrf}';
      const type = 'application/x-www-form-urlencoded';
      const json = await post('/auth/magic_link', type, body, 'application/json');
      expect(json.status).toBe(400);
      expect(json.headers.get('content-type')).toContain('application/json');
      expect(await json.json()).toMatchObject({ error: 'bad_request' });
      const page = await post('/auth/magic_link', type, body);
      expect(page.status).toBe(400);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('more than once');
    });

    it.each(fieldCases)(
      'line $line is 400, sends nothing: $source',
      async ({ path, type, body }) => {
        const sent = mails();
        for (const accept of ['text/html', 'application/json']) {
          const answer = await post(path, type, body, accept);
          const text = await answer.text();
          expect(answer.status).toBe(400);
          expect(sessionOf(answer)).toBeNull();
          expect(text).not.toContain('Check your email');
        }
        // A mail sent while the request was answered would show up here a moment later.
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(mails()).toBe(sent);
        expect(await app.ctx.store.getUserByEmail('bob@example.com')).toBeNull();
      },
    );
  });
}

/** One row of test/fixtures/duplicate-session-cookies.json. */
export interface DuplicateCase {
  why: string;
  cookies: string[];
  expect: 'none' | 'alice';
}

export const duplicateCases = (
  JSON.parse(
    readFileSync(new URL('../fixtures/duplicate-session-cookies.json', import.meta.url), 'utf8'),
  ) as { cases: DuplicateCase[] }
).cases;

interface HeaderTable {
  name: string;
  cases: { why: string; header: string; expect: string | null }[];
}

const headerTable = JSON.parse(
  readFileSync(new URL('../fixtures/cookie-headers.json', import.meta.url), 'utf8'),
) as HeaderTable;

/**
 * Cookie tossing against the session cookie (duplicate-session-cookies.json): more than one
 * session cookie, in one Cookie header or several, is no session; and readCookie's table
 * (cookie-headers.json) end to end. Forward-auth mode.
 */
export function duplicateSessionCookieTable(start: StartClient): void {
  describe('more than one session cookie, and odd Cookie headers, forward-auth mode', () => {
    let app: LoginClient;
    const sessions = { A: '', B: '', G: 'garbage.not-a.jwt' };

    beforeAll(async () => {
      app = await start({
        server: { public_url: 'https://auth.example.test' },
        session: { cookie_domain: '.example.test' },
        admin: { emails: ['alice@example.test', 'bob@example.test'] },
      });
      sessions.A = await app.login('alice@example.test');
      sessions.B = await app.login('bob@example.test');
    });
    afterAll(async () => {
      await app?.close();
    });

    /** One Cookie header line per entry, with {A} {B} {G} filled in. */
    const cookieLines = (cookies: string[]) =>
      cookies.map((value) =>
        value.replace(/\{([ABG])\}/g, (_, key: 'A' | 'B' | 'G') => sessions[key]),
      );

    it.each(duplicateCases)('/auth/nginx: $why → $expect', async ({ cookies, expect: who }) => {
      const reply = await app.request({
        path: '/auth/nginx',
        headers: {
          'x-original-url': 'https://app.example.test/notes',
          'x-original-method': 'GET',
          cookie: cookieLines(cookies),
        },
      });
      if (who === 'none') {
        expect(reply.status).toBe(401);
        expect(reply.headers.get('location')).toContain('/auth/login?rd=');
        expect(reply.headers.get('remote-email')).toBeNull();
      } else {
        expect(reply.status).toBe(200);
        expect(reply.headers.get('remote-email')).toBe('alice@example.test');
      }
    });

    it.each(duplicateCases)(
      '/auth/me and the admin panel: $why → $expect',
      async ({ cookies, expect: who }) => {
        const cookie = cookieLines(cookies);
        const me = await app.request({
          path: '/auth/me',
          headers: { accept: 'application/json', cookie },
        });
        const admin = await app.request({ path: '/auth/admin', headers: { cookie } });
        if (who === 'none') {
          expect(me.status).toBe(401);
          expect(admin.status).toBe(303);
          expect(admin.headers.get('location')).toContain('/auth/login');
        } else {
          expect(me.status).toBe(200);
          expect(await me.text()).toContain('"email":"alice@example.test"');
          expect(admin.status).toBe(200);
        }
      },
    );

    // readCookie's table (test/unit/read-cookie.test.ts) end to end: A is alice's session, B bob's,
    // any other value garbage. Only a header whose reading is exactly A is alice; every other
    // reading (none, empty, A with more glued on) is signed out.
    it.each(headerTable.cases)('cookie-headers.json: $why', async ({ header, expect: wanted }) => {
      expect(headerTable.name).toBe(COOKIE);
      const cookie = header.replace(/\b([ABCX])\b/g, (_, key: string) =>
        key === 'A' ? sessions.A : key === 'B' ? sessions.B : `garbage-${key}`,
      );
      const me = await app.request({
        path: '/auth/me',
        headers: { accept: 'application/json', ...(cookie === '' ? {} : { cookie }) },
      });
      const check = await app.request({
        path: '/auth/nginx',
        headers: {
          'x-original-url': 'https://app.example.test/notes',
          ...(cookie ? { cookie } : {}),
        },
      });
      if (wanted === 'A') {
        expect(me.status).toBe(200);
        expect(await me.text()).toContain('"email":"alice@example.test"');
        expect(check.headers.get('remote-email')).toBe('alice@example.test');
      } else {
        expect(me.status).toBe(401);
        expect(check.status).toBe(401);
        expect(check.headers.get('remote-email')).toBeNull();
      }
    });
  });
}
