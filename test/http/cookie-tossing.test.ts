import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/core/password.js';
import { formToken } from '../helpers/form-token.js';
import { type LoggedApp, sessionCookieOf, startLoggedApp } from '../helpers/mail-app.js';

/**
 * The cookie-tossing corpus (test/fixtures/csrf-cases.json) against every state-changing form:
 * a planted `portcullis_csrf` with the same value in the form never passes for an Origin or a
 * Sec-Fetch-Site that a sibling subdomain's page produces, and nothing changes. The admin panel
 * refuses every combination: it wants the token bound to the admin's session.
 */
interface Corpus {
  planted: string;
  origins: Record<string, string | null>;
  fetchSites: Record<string, string | null>;
  endpoints: string[];
  notForgeries: { origin: string; fetchSite: string; schemes: string[] }[];
}

const corpus = JSON.parse(
  readFileSync(new URL('../fixtures/csrf-cases.json', import.meta.url), 'utf8'),
) as Corpus;

const PASSWORD = 'correct horse';
const SCHEMES = ['https', 'http'] as const;
type Scheme = (typeof SCHEMES)[number];

interface Combo {
  endpoint: string;
  origin: string;
  fetchSite: string;
}

const combos: Combo[] = corpus.endpoints.flatMap((endpoint) =>
  Object.keys(corpus.origins).flatMap((origin) =>
    Object.keys(corpus.fetchSites).map((fetchSite) => ({ endpoint, origin, fetchSite })),
  ),
);

function isForgery(scheme: Scheme, combo: Combo): boolean {
  if (combo.endpoint.startsWith('admin')) return true;
  return !corpus.notForgeries.some(
    (n) =>
      n.origin === combo.origin && n.fetchSite === combo.fetchSite && n.schemes.includes(scheme),
  );
}

describe.each(SCHEMES)('cookie tossing over %s', (scheme) => {
  let app: LoggedApp;
  let ip = 0;

  beforeAll(async () => {
    app = await startLoggedApp({
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
    const link = new URL(await app.ctx.loginLinks.issue(email, '/'));
    const session = sessionCookieOf(await app.redeem(link.href));
    if (!session) throw new Error(`could not sign ${email} in`);
    return session;
  }

  async function alive(session: string): Promise<boolean> {
    const me = await fetch(`${app.url}/auth/me`, {
      headers: { cookie: `portcullis_session=${session}`, accept: 'application/json' },
    });
    await me.arrayBuffer();
    return me.status === 200;
  }

  /** The forged form as the victim's browser sends it: their cookies plus the planted one. */
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
      cookie: [session ? `portcullis_session=${session}` : '', `portcullis_csrf=${corpus.planted}`]
        .filter(Boolean)
        .join('; '),
    };
    const origin = corpus.origins[combo.origin];
    const fetchSite = corpus.fetchSites[combo.fetchSite];
    if (origin) headers.origin = origin;
    if (fetchSite) headers['sec-fetch-site'] = fetchSite;
    return fetch(`${app.url}/auth${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers,
      body: new URLSearchParams({ ...fields, csrf: corpus.planted }).toString(),
    });
  }

  /** Sends the forgery for one endpoint; checks it was refused and changed nothing. */
  async function refusedAndUnchanged(combo: Combo): Promise<void> {
    const tag = `${combo.origin}-${combo.fetchSite}-${ip}`.replace(/[^a-z0-9-]/g, '');
    const refused = async (response: Response) => {
      expect(response.status, `${combo.endpoint} ${combo.origin}/${combo.fetchSite}`).toBe(403);
      expect(response.headers.getSetCookie().join()).not.toContain('portcullis_session=');
    };
    switch (combo.endpoint) {
      case 'admin make_admin':
      case 'admin set_password': {
        const root = await signIn('root@example.test');
        const victim = await app.ctx.users.findOrCreate(`target-${tag}@example.test`);
        const action = combo.endpoint.slice('admin '.length);
        await refused(
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
        expect(await alive(root)).toBe(true);
        return;
      }
      case 'logout':
      case 'logout everywhere': {
        const one = await signIn(`leaver-${tag}@example.test`);
        const two = await signIn(`leaver-${tag}@example.test`);
        const path = combo.endpoint === 'logout' ? '/logout' : '/logout?everywhere=1';
        await refused(await forge(path, {}, combo, one));
        expect(await alive(one)).toBe(true);
        expect(await alive(two)).toBe(true);
        return;
      }
      case 'magic_link': {
        const email = `asked-${tag}@example.test`;
        await refused(await forge('/magic_link', { email, rd: '/' }, combo));
        expect(app.logs.some((l) => l.event === 'magic_link_logged' && l.to === email)).toBe(false);
        expect(await app.ctx.store.getUserByEmail(email)).toBeNull();
        return;
      }
      case 'basic':
        await refused(
          await forge('/basic', { email: 'pat@example.test', password: PASSWORD }, combo),
        );
        return;
      case 'magic': {
        const link = new URL(await app.ctx.loginLinks.issue(`linked-${tag}@example.test`, '/'));
        const token = link.searchParams.get('token') as string;
        await refused(await forge('/magic', { token }, combo));
        expect(await app.ctx.loginLinks.peek(token)).not.toBeNull();
        return;
      }
      default:
        throw new Error(`no such endpoint in the corpus: ${combo.endpoint}`);
    }
  }

  const forgeries = combos.filter((combo) => isForgery(scheme, combo));

  it.each(forgeries)(
    '$endpoint, Origin $origin, Sec-Fetch-Site $fetchSite: 403, nothing changes',
    (combo) => refusedAndUnchanged(combo),
  );

  it('the admin panel refuses a planted session cookie beside the admin’s, with the planter’s own token', async () => {
    const root = await signIn('root@example.test');
    const attacker = await signIn(`attacker-${scheme}@example.test`);
    const { token } = await formToken(app.url, `portcullis_session=${attacker}`);
    const victim = await app.ctx.users.findOrCreate(`planted-session-${scheme}@example.test`);
    for (const cookie of [
      `portcullis_session=${attacker}; portcullis_session=${root}`,
      `portcullis_session=${root}; portcullis_session=${attacker}`,
    ]) {
      const response = await fetch(`${app.url}/auth/admin`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie,
          'sec-fetch-site': 'same-origin',
          origin: 'null',
        },
        body: new URLSearchParams({
          csrf: token,
          action: 'make_admin',
          user: victim.id,
        }).toString(),
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
    const panel = await formToken(app.url, `portcullis_session=${root}`, '/auth/admin');
    const made = await fetch(`${app.url}/auth/admin`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: panel.cookie,
        ...browser,
      },
      body: new URLSearchParams({
        csrf: panel.token,
        action: 'make_admin',
        user: victim.id,
      }).toString(),
    });
    expect(made.status).toBe(200);
    const after = await app.ctx.store.getUser(victim.id);
    expect(after && app.ctx.users.isAdmin(after)).toBe(true);

    const login = await formToken(app.url, '', '/auth/login');
    const basic = await fetch(`${app.url}/auth/basic`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: login.cookie,
        ...browser,
      },
      body: new URLSearchParams({
        csrf: login.token,
        email: 'pat@example.test',
        password: PASSWORD,
      }).toString(),
    });
    expect(basic.status).toBe(303);
    expect(sessionCookieOf(basic)).not.toBeNull();
  });
});
