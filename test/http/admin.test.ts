import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressHtml } from '../../src/http/views/admin-common.js';
import { formToken } from '../helpers/form-token.js';
import { type LoggedApp, sessionCookieOf, startLoggedApp } from '../helpers/mail-app.js';

const ADMIN = 'admin@example.com';
/** How the panel shows an address: pieces joined by line-break chances. */
const address = (email: string) => addressHtml(email).value;

describe('admin panel', () => {
  let app: LoggedApp;
  let adminCookie: string;

  /** Signs someone in the way the panel's own links do; returns the session cookie. */
  async function signIn(email: string, userAgent = 'vitest'): Promise<string> {
    const link = await app.ctx.loginLinks.issue(email, '/');
    const cookie = sessionCookieOf(await app.redeem(link, { userAgent }));
    if (!cookie) throw new Error(`could not sign ${email} in`);
    return cookie;
  }

  const get = (path: string, cookie?: string, headers: Record<string, string> = {}) =>
    fetch(`${app.url}${path}`, {
      redirect: 'manual',
      headers: { ...headers, ...(cookie ? { cookie: `portcullis_session=${cookie}` } : {}) },
    });

  /**
   * Submits the panel's form; `fields` may repeat keys (several ticked users). The token is the
   * one the panel hands this session unless `csrf` says otherwise (null: none).
   */
  const post = async (cookie: string, fields: [string, string][], csrf?: string | null) => {
    const body = new URLSearchParams(fields);
    const token =
      csrf === undefined ? (await formToken(app.url, `portcullis_session=${cookie}`)).token : csrf;
    if (token) body.set('csrf', token);
    return fetch(`${app.url}/auth/admin`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_session=${cookie}`,
      },
      body: body.toString(),
    });
  };

  /** The user ids a confirmation's form would send. */
  const hiddenUsers = (body: string) =>
    [...body.matchAll(/<input type="hidden" name="user" value="([^"]+)">/g)].map((m) => m[1]);
  const idOf = async (email: string) => (await app.ctx.store.getUserByEmail(email))?.id as string;
  const check = (cookie: string) =>
    fetch(`${app.url}/auth/nginx`, {
      headers: { cookie: `portcullis_session=${cookie}`, 'x-original-url': 'http://app.test/' },
    });

  beforeAll(async () => {
    app = await startLoggedApp({
      server: { public_url: 'https://auth.example.com' },
      admin: { emails: [ADMIN], groups: ['ops'] },
      auth: { magic_link: { mailer: 'manual' } },
    });
    adminCookie = await signIn(ADMIN);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('sends anonymous people to the login page with rd back to the panel', async () => {
    const response = await get('/auth/admin');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(
      `/auth/login?rd=${encodeURIComponent('https://auth.example.com/auth/admin')}`,
    );
    const json = await get('/auth/admin', undefined, { accept: 'application/json' });
    expect(json.status).toBe(401);
  });

  it('refuses signed-in non-admins with 403 and a page that says why', async () => {
    const cookie = await signIn('plain@example.com');
    const response = await get('/auth/admin', cookie);
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('Only administrators can open the admin panel.');
    const change = await post(cookie, [
      ['action', 'make_admin'],
      ['user', await idOf('plain@example.com')],
    ]);
    expect(change.status).toBe(403);
    expect((await app.ctx.store.getUserByEmail('plain@example.com'))?.admin).toBeUndefined();
  });

  it('lets members of admin.groups in', async () => {
    const user = await app.ctx.users.findOrCreate('grouped@example.com');
    await app.ctx.store.updateUser({ ...user, groups: ['ops'] });
    const response = await get('/auth/admin', await signIn('grouped@example.com'));
    expect(response.status).toBe(200);
  });

  it('lists users with search and pagination', async () => {
    for (let i = 0; i < 30; i++)
      await app.ctx.users.findOrCreate(`page-${String(i).padStart(2, '0')}@list.example`);
    const first = await (await get('/auth/admin?q=list.example', adminCookie)).text();
    expect(first).toContain('30 users matching “list.example”');
    expect(first).toContain('Page 1 of 2');
    expect(first).toContain('page-00@list.example');
    expect(first).not.toContain('page-25@list.example');
    expect(first).toContain('href="/auth/admin?q=list.example&amp;page=2"');
    const second = await (await get('/auth/admin?q=list.example&page=2', adminCookie)).text();
    expect(second).toContain('page-25@list.example');
    expect(second).toContain('Page 2 of 2');
    const one = await (await get('/auth/admin?q=page-07', adminCookie)).text();
    expect(one).toContain('1 user matching');
    const beyond = await (await get('/auth/admin?q=list.example&page=99', adminCookie)).text();
    expect(beyond).toContain('Page 2 of 2');
  });

  it('"Get email login URL" puts a working link at the top, and it is logged without the link', async () => {
    const email = 'bob@example.com';
    await app.ctx.users.findOrCreate(email);
    const response = await post(adminCookie, [
      ['action', 'login_url'],
      ['user', await idOf(email)],
      ['q', 'bob'],
    ]);
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body.indexOf('Retrieved login URL')).toBeLessThan(body.indexOf('<table'));
    const link = /<code>(https:\/\/auth\.example\.com\/auth\/magic\?token=[^<]+)<\/code>/.exec(
      body,
    )?.[1];
    expect(link).toBeTruthy();
    const redeemed = await app.redeem(link as string);
    expect(redeemed.headers.get('location')).toBe('/');
    const cookie = sessionCookieOf(redeemed) as string;
    expect((await check(cookie)).headers.get('remote-email')).toBe(email);
    const audit = app.logs.find((l) => l.event === 'admin.login_url_issued');
    expect(audit).toMatchObject({ audit: true, actor: ADMIN, subject: email });
    expect(JSON.stringify(app.logs)).not.toContain(
      new URL(link as string).searchParams.get('token') as string,
    );
  });

  it('issues a link per ticked user and refuses one for a deactivated user', async () => {
    const a = await app.ctx.users.findOrCreate('multi-a@example.com');
    const b = await app.ctx.users.findOrCreate('multi-b@example.com');
    const off = await app.ctx.users.findOrCreate('multi-off@example.com');
    await app.ctx.store.updateUser({ ...off, active: false });
    const asked = await (
      await post(adminCookie, [
        ['action', 'login_url'],
        ['user', a.id],
        ['user', b.id],
        ['user', off.id],
      ])
    ).text();
    // The deactivated user does not fit: the plan says so before anything is issued.
    expect(asked).toContain('Get a login URL for 2 users?');
    expect(asked).toMatch(
      /Skipped \(1\)<\/h3>[\s\S]*multi-off@[\s\S]*: deactivated: reactivate them/,
    );
    expect(asked).not.toContain('/auth/magic?token=');
    expect(hiddenUsers(asked)).toEqual([a.id, b.id]);
    const body = await (
      await post(adminCookie, [
        ['action', 'login_url'],
        ['user', a.id],
        ['user', b.id],
        ['confirm', 'yes'],
      ])
    ).text();
    expect(body.match(/<code>https:\/\/auth\.example\.com\/auth\/magic\?token=/g)).toHaveLength(2);
    // Ticked anyway with confirm=yes (a crafted form): skipped, said, no link.
    const forced = await (
      await post(adminCookie, [
        ['action', 'login_url'],
        ['user', off.id],
        ['confirm', 'yes'],
      ])
    ).text();
    expect(forced).toContain('Skipped multi-off@example.com: deactivated');
    expect(forced).not.toContain('/auth/magic?token=');
  });

  it('deactivation ends every session at once and the user cannot sign in; activation lets them back', async () => {
    const email = 'carol@example.com';
    const one = await signIn(email, 'Phone');
    const two = await signIn(email, 'Laptop');
    expect((await check(one)).status).toBe(200);
    const id = await idOf(email);
    const asked = await (
      await post(adminCookie, [
        ['action', 'deactivate'],
        ['user', id],
        ['view', id],
      ])
    ).text();
    expect(asked).toContain(`Deactivate ${address(email)}?`);
    expect(asked).toContain('can no longer sign in; their 2 sessions end now');
    expect(asked).toContain('<input type="hidden" name="confirm" value="yes">');
    expect(asked).toMatch(/<button type="submit" class="danger">Deactivate 1 user<\/button>/);
    expect(asked).toContain(`href="/auth/admin?user=${id}">Cancel</a>`);
    expect((await app.ctx.store.getUser(id))?.active).toBe(true);
    expect((await check(one)).status).toBe(200);
    const body = await (
      await post(adminCookie, [
        ['action', 'deactivate'],
        ['user', id],
        ['view', id],
        ['confirm', 'yes'],
      ])
    ).text();
    expect(body).toContain(`Deactivated ${email}; ended 2 sessions.`);
    // Back on their page, which now offers Reactivate and no Deactivate.
    expect(body).toContain('value="activate">Reactivate</button>');
    expect(body).not.toContain('value="deactivate"');
    expect((await check(one)).status).toBe(401);
    expect((await check(two)).status).toBe(401);
    const link = await app.ctx.loginLinks.issue(email, '/');
    expect((await app.redeem(link)).headers.get('location')).toBe('/auth/login?error=not_allowed');
    const audit = app.logs.find((l) => l.event === 'admin.deactivate' && l.subject === email);
    expect(audit).toMatchObject({ actor: ADMIN, sessions_ended: 2 });
    const back = await (
      await post(adminCookie, [
        ['action', 'activate'],
        ['user', id],
      ])
    ).text();
    expect(back).toContain(`Activated ${email}.`);
    expect((await check(await signIn(email))).status).toBe(200);
  });

  it('log out everywhere ends all sessions but keeps the account', async () => {
    const email = 'dave@example.com';
    const cookies = [await signIn(email), await signIn(email)];
    const asked = await (
      await post(adminCookie, [
        ['action', 'logout_everywhere'],
        ['user', await idOf(email)],
      ])
    ).text();
    expect(asked).toContain(`Log ${address(email)} out everywhere?`);
    expect(asked).toContain(
      'is signed out everywhere: their 2 sessions end now; they can sign in again',
    );
    for (const cookie of cookies) expect((await check(cookie)).status).toBe(200);
    const body = await (
      await post(adminCookie, [
        ['action', 'logout_everywhere'],
        ['user', await idOf(email)],
        ['confirm', 'yes'],
      ])
    ).text();
    expect(body).toContain(`Signed ${email} out everywhere (2 sessions).`);
    for (const cookie of cookies) expect((await check(cookie)).status).toBe(401);
    expect((await check(await signIn(email))).status).toBe(200);
  });

  it('makes and unmakes admins, but not the config ones or oneself', async () => {
    const email = 'erin@example.com';
    const cookie = await signIn(email);
    const id = await idOf(email);
    expect((await get('/auth/admin', cookie)).status).toBe(403);
    await post(adminCookie, [
      ['action', 'make_admin'],
      ['user', id],
    ]);
    expect((await get('/auth/admin', cookie)).status).toBe(200);
    const removed = await (
      await post(adminCookie, [
        ['action', 'unmake_admin'],
        ['user', id],
      ])
    ).text();
    expect(removed).toContain(`${email} is no longer an admin here.`);
    expect((await get('/auth/admin', cookie)).status).toBe(403);
    const self = await (
      await post(adminCookie, [
        ['action', 'unmake_admin'],
        ['user', await idOf(ADMIN)],
      ])
    ).text();
    expect(self).toContain('Nothing to do');
    expect(self).toContain('that is you: you cannot remove your own admin rights');
    const grouped = await idOf('grouped@example.com');
    const config = await (
      await post(adminCookie, [
        ['action', 'unmake_admin'],
        ['user', grouped],
      ])
    ).text();
    expect(config).toContain('an admin through the config (admin.emails or admin.groups)');
    expect((await get('/auth/admin', await signIn('grouped@example.com'))).status).toBe(200);
    const selfOff = await (
      await post(adminCookie, [
        ['action', 'deactivate'],
        ['user', await idOf(ADMIN)],
        ['confirm', 'yes'],
      ])
    ).text();
    expect(selfOff).toContain(
      'Skipped admin@example.com: that is you: you cannot deactivate yourself.',
    );
    expect((await get('/auth/admin', adminCookie)).status).toBe(200);
  });

  it("shows a user's sessions (started, last seen, IP, browser) and ends one", async () => {
    const email = 'frank@example.com';
    const phone = await signIn(email, 'Mozilla/5.0 (iPhone) <b>phone</b>');
    const laptop = await signIn(email, 'Mozilla/5.0 (X11; Linux) laptop');
    const id = await idOf(email);
    const detail = await (await get(`/auth/admin?user=${id}`, adminCookie)).text();
    expect(detail).toContain('Active sessions (2)');
    expect(detail).toContain('127.0.0.1');
    expect(detail).toContain('&lt;b&gt;phone&lt;/b&gt;');
    expect(detail).not.toContain('<b>phone</b>');
    const sessions = await app.ctx.store.listUserSessions(id);
    const phoneSession = sessions.find((s) => s.userAgent.includes('iPhone'));
    const ended = await (
      await post(adminCookie, [
        ['action', 'end_session'],
        ['user', id],
        ['view', id],
        ['session', phoneSession?.id as string],
      ])
    ).text();
    expect(ended).toContain(`Ended one session of ${email}.`);
    expect(ended).toContain('Active sessions (1)');
    expect((await check(phone)).status).toBe(401);
    expect((await check(laptop)).status).toBe(200);
    // A session id of someone else is not ended through another user's row.
    const other = await signIn('gina@example.com');
    const otherSession = (await app.ctx.store.listUserSessions(await idOf('gina@example.com')))[0];
    const refused = await (
      await post(adminCookie, [
        ['action', 'end_session'],
        ['user', id],
        ['session', otherSession?.id as string],
      ])
    ).text();
    expect(refused).toContain('That session has already ended.');
    expect((await check(other)).status).toBe(200);
  });

  it('adds a user by email', async () => {
    const body = await (
      await post(adminCookie, [
        ['action', 'add_user'],
        ['email', ' New.Hire@Example.com '],
        ['name', 'New Hire'],
      ])
    ).text();
    expect(body).toContain('Added new.hire@example.com.');
    expect(await app.ctx.store.getUserByEmail('new.hire@example.com')).toMatchObject({
      name: 'New Hire',
      verified: false,
      active: true,
    });
    const again = await (
      await post(adminCookie, [
        ['action', 'add_user'],
        ['email', 'new.hire@example.com'],
      ])
    ).text();
    expect(again).toContain('already has an account');
    const bad = await (
      await post(adminCookie, [
        ['action', 'add_user'],
        ['email', 'a@b@c'],
      ])
    ).text();
    expect(bad).toContain('That is not an email address');
    expect(app.logs.filter((l) => l.event === 'admin.add_user')).toHaveLength(1);
  });

  it('refuses changes without the CSRF token, from a foreign origin, or with no user ticked', async () => {
    const email = 'henry@example.com';
    await app.ctx.users.findOrCreate(email);
    const id = await idOf(email);
    const missing = await post(
      adminCookie,
      [
        ['action', 'deactivate'],
        ['user', id],
      ],
      null,
    );
    expect(missing.status).toBe(403);
    const { token } = await formToken(app.url, `portcullis_session=${adminCookie}`);
    const foreign = await fetch(`${app.url}/auth/admin`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_session=${adminCookie}`,
        origin: 'https://evil.example.net',
      },
      body: new URLSearchParams({ csrf: token, action: 'deactivate', user: id }).toString(),
    });
    expect(foreign.status).toBe(403);
    expect((await app.ctx.store.getUser(id))?.active).toBe(true);
    const none = await (await post(adminCookie, [['action', 'deactivate']])).text();
    expect(none).toContain('Tick at least one user first.');
    const unknown = await post(adminCookie, [
      ['action', 'drop_tables'],
      ['user', id],
    ]);
    expect(unknown.status).toBe(400);
  });

  /** The `action` values of the buttons on a user's page. */
  const offered = (body: string) =>
    [...body.matchAll(/<button type="submit" name="action" value="([a-z_]+)"/g)].map((m) => m[1]);

  it("offers on a user's page only the actions that fit their state", async () => {
    const active = await app.ctx.users.findOrCreate('fit-active@example.com');
    await signIn('fit-active@example.com');
    expect(offered(await (await get(`/auth/admin?user=${active.id}`, adminCookie)).text())).toEqual(
      ['login_url', 'make_admin', 'logout_everywhere', 'deactivate'],
    );
    const off = await app.ctx.users.findOrCreate('fit-off@example.com');
    await app.ctx.store.updateUser({ ...off, active: false });
    expect(offered(await (await get(`/auth/admin?user=${off.id}`, adminCookie)).text())).toEqual([
      'activate',
      'make_admin',
    ]);
    const panelAdmin = await app.ctx.users.findOrCreate('fit-admin@example.com');
    await app.ctx.store.updateUser({ ...panelAdmin, admin: true });
    const adminPage = await (await get(`/auth/admin?user=${panelAdmin.id}`, adminCookie)).text();
    expect(offered(adminPage)).toEqual(['login_url', 'unmake_admin', 'deactivate']);
    expect(adminPage).toContain('value="unmake_admin" class="danger secondary">Remove admin');
    // Admins from the config: no button that would fail, a sentence instead.
    const grouped = await idOf('grouped@example.com');
    const configPage = await (await get(`/auth/admin?user=${grouped}`, adminCookie)).text();
    expect(offered(configPage)).not.toContain('unmake_admin');
    expect(offered(configPage)).not.toContain('make_admin');
    expect(configPage).toContain('Admin through the config (admin.emails or admin.groups)');
    // One's own page: neither Deactivate nor Remove admin.
    const own = await (await get(`/auth/admin?user=${await idOf(ADMIN)}`, adminCookie)).text();
    expect(offered(own)).toEqual(['login_url', 'logout_everywhere']);
    expect(own).toContain('This is you: you cannot deactivate yourself.');
  });

  it.each([
    ['no confirm', []],
    ['confirm=no', [['confirm', 'no']]],
    ['confirm=YES', [['confirm', 'YES']]],
    ['confirm=" yes"', [['confirm', ' yes']]],
    ['confirm=true', [['confirm', 'true']]],
    ['confirm=1', [['confirm', '1']]],
    [
      'confirm=no then yes (the first counts)',
      [
        ['confirm', 'no'],
        ['confirm', 'yes'],
      ],
    ],
    ['confirm in the wrong field', [['confirmed', 'yes']]],
  ] as [string, [string, string][]][])(
    'POST deactivate with %s asks and deactivates nobody',
    async (name, extra) => {
      const email = `ask-${name.replace(/[^a-z]/gi, '').toLowerCase()}@example.com`;
      const user = await app.ctx.users.findOrCreate(email);
      const cookie = await signIn(email);
      for (const action of ['deactivate', 'logout_everywhere']) {
        const response = await post(adminCookie, [['action', action], ['user', user.id], ...extra]);
        expect(response.status).toBe(200);
        expect(await response.text()).toContain('id="bulk-heading"');
      }
      expect((await app.ctx.store.getUser(user.id))?.active).toBe(true);
      expect((await check(cookie)).status).toBe(200);
    },
  );

  it('a bulk deactivate lists what happens to whom and who is skipped, and changes only those it fits', async () => {
    const ann = await app.ctx.users.findOrCreate('bulk-ann@example.com');
    await signIn('bulk-ann@example.com');
    await signIn('bulk-ann@example.com');
    const gone = await app.ctx.users.findOrCreate('bulk-gone@example.com');
    await app.ctx.store.updateUser({ ...gone, active: false });
    const self = await idOf(ADMIN);
    const asked = await (
      await post(adminCookie, [
        ['action', 'deactivate'],
        ['user', ann.id],
        ['user', gone.id],
        ['user', self],
        ['user', 'no-such-user'],
        ['q', 'bulk'],
      ])
    ).text();
    expect(asked).toContain(`Deactivate ${address('bulk-ann@example.com')}?`);
    expect(asked).toContain(
      `${address('bulk-ann@example.com')} can no longer sign in; their 2 sessions end now`,
    );
    expect(asked).toContain('Skipped (3)');
    expect(asked).toContain(`${address('bulk-gone@example.com')}: already deactivated.`);
    expect(asked).toContain(`${address(ADMIN)}: that is you: you cannot deactivate yourself.`);
    expect(asked).toContain('1 ticked user no longer exists.');
    expect(hiddenUsers(asked)).toEqual([ann.id]);
    expect(asked).toContain('href="/auth/admin?q=bulk">Cancel</a>');
    expect((await app.ctx.store.getUser(ann.id))?.active).toBe(true);
    // Nothing the action fits: no button at all.
    const none = await (
      await post(adminCookie, [
        ['action', 'activate'],
        ['user', ann.id],
      ])
    ).text();
    expect(none).toContain('Nothing to do');
    expect(none).toContain('already active');
    expect(none).not.toContain('name="confirm"');
    const done = await (
      await post(adminCookie, [
        ['action', 'deactivate'],
        ['user', ann.id],
        ['confirm', 'yes'],
        ['q', 'bulk'],
      ])
    ).text();
    expect(done).toContain('Deactivated bulk-ann@example.com; ended 2 sessions.');
    expect(done).toContain('2 users matching “bulk”');
    expect((await app.ctx.store.getUser(ann.id))?.active).toBe(false);
  });

  it("marks the admin's own session as this device, names the method, and wraps addresses and events", async () => {
    const own = await (await get(`/auth/admin?user=${await idOf(ADMIN)}`, adminCookie)).text();
    expect(own.match(/this device/g)).toHaveLength(1);
    expect(own).toContain('<td class="wide-only">Email link</td>');
    expect(own).not.toContain('>magic_link<');
    expect(own).toContain(`<h2>${address(ADMIN)}</h2>`);
    const carol = await (
      await get(`/auth/admin?user=${await idOf('carol@example.com')}`, adminCookie)
    ).text();
    expect(carol).not.toContain('this device');
    expect(carol).toContain('<code class="event">admin<wbr>.deactivate</code>');
    const list = await (await get('/auth/admin?q=carol', adminCookie)).text();
    expect(list).toContain(address('carol@example.com'));
  });
});
