import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkUsername, initialUsername, usernameCandidates } from '../../src/core/username.js';
import { fieldError, type PanelClient, panelClient } from '../helpers/admin-panel.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';

const ADMIN = 'admin@example.com';

describe('the anonymous id is reserved as a username', () => {
  it.each(['anon', 'ANON', 'Anon', 'ａｎｏｎ'])('refuses %j', (name) => {
    expect(checkUsername(name, ['anon'])).toEqual({ ok: false, problem: 'reserved' });
  });

  it('skips it when a username is derived', () => {
    expect(initialUsername('Anon', 'anon@example.com', ['anon'])).toBe('user');
    expect(initialUsername(null, 'anon@example.com', ['anon'])).toBe('user');
    expect(initialUsername('anon', 'x@example.com', ['anon'])).toBe('x');
    expect(initialUsername(null, 'user@example.com', ['user'])).toBe('user-2');
    const first = usernameCandidates('anon', () => 'ff', ['anon']).next().value;
    expect(first).toBe('anon-2');
  });
});

describe('usernames in the admin panel', () => {
  let app: LoggedApp;
  let panel: PanelClient;
  let adminCookie: string;

  const rename = (id: string, username: string, csrf?: string | null) =>
    panel.post(
      adminCookie,
      [
        ['action', 'set_username'],
        ['user', id],
        ['view', id],
        ['username', username],
      ],
      csrf,
    );

  beforeAll(async () => {
    app = await startLoggedApp({
      server: { public_url: 'https://auth.example.com' },
      admin: { emails: [ADMIN] },
      auth: { magic_link: { mailer: 'manual' } },
      anonymous_user: { id: 'guest', email: 'guest@localhost', name: 'Guest' },
    });
    panel = panelClient(app);
    adminCookie = await panel.signIn(ADMIN);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('shows usernames in the list and on the user page, with an edit form', async () => {
    const user = await app.ctx.users.findOrCreate('alice.smith@example.com');
    const list = await (await panel.get('/auth/admin?q=alice.smith', adminCookie)).text();
    expect(list).toContain('<th scope="col" class="wide-only">Username</th>');
    expect(list).toContain('<td class="wide-only">alice.smith</td>');
    const page = await (await panel.get(`/auth/admin?user=${user.id}`, adminCookie)).text();
    expect(page).toContain('<dt>Username</dt><dd>alice.smith</dd>');
    expect(page).toContain('<label for="username">New username</label>');
    expect(page).toContain('value="set_username"');
  });

  it('renames: the very next check carries the new name, and it is audited', async () => {
    const email = 'bob.jones@example.com';
    const cookie = await panel.signIn(email);
    const before = await panel.traefik('http://app.test/', { cookie });
    expect(before.headers.get('remote-user')).toBe('bob.jones');
    const id = await panel.idOf(email);
    const body = await (await rename(id, '  bob  ')).text();
    expect(body).toContain('The username is now bob;');
    expect(body).toContain('<dt>Username</dt><dd>bob</dd>');
    const after = await panel.traefik('http://app.test/', { cookie });
    expect(after.headers.get('remote-user')).toBe('bob');
    expect(app.logs.find((l) => l.event === 'admin.set_username')).toMatchObject({
      audit: true,
      actor: ADMIN,
      subject: email,
      username: 'bob',
      previous: 'bob.jones',
    });
  });

  it.each([
    ['', 'A username cannot be empty.'],
    ['bob smith', 'only letters, digits'],
    ['bob\r\nRemote-User: root', 'only letters, digits'],
    ['a,b', 'only letters, digits'],
    ['50%', 'only letters, digits'],
    ['x'.repeat(65), 'at most 64 characters'],
    ['...', 'at least one letter or digit'],
    ['guest', 'reserved for people who are not signed in'],
    ['GUEST', 'reserved for people who are not signed in'],
    ['<script>alert(1)</script>', 'only letters, digits'],
  ])('refuses %j as a form error', async (typed, message) => {
    const user = await app.ctx.users.findOrCreate('carol@example.com');
    const body = await (await rename(user.id, typed)).text();
    expect(fieldError(body, 'username')).toContain(message);
    expect(body).not.toContain('<script>alert(1)');
    expect((await app.ctx.store.getUser(user.id))?.username).toBe('carol');
  });

  it('refuses a name another user has, in any case', async () => {
    await app.ctx.users.findOrCreate('dave@example.com');
    const erin = await app.ctx.users.findOrCreate('erin@example.com');
    const body = await (await rename(erin.id, 'DAVE')).text();
    expect(fieldError(body, 'username')).toContain('Another user has this username');
    expect(body).toContain('value="DAVE"');
    expect((await app.ctx.store.getUser(erin.id))?.username).toBe('erin');
  });

  it('never derives the anonymous id for a new account', async () => {
    const user = await app.ctx.users.findOrCreate('guest@example.com');
    expect(user.username).toBe('user');
  });

  it('refuses a rename without the CSRF token, or by a non-admin', async () => {
    const frank = await app.ctx.users.findOrCreate('frank@example.com');
    expect((await rename(frank.id, 'franky', null)).status).toBe(403);
    const cookie = await panel.signIn('frank@example.com');
    const self = await panel.post(cookie, [
      ['action', 'set_username'],
      ['user', frank.id],
      ['username', 'root'],
    ]);
    expect(self.status).toBe(403);
    expect((await app.ctx.store.getUser(frank.id))?.username).toBe('frank');
  });
});
