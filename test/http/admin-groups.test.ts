import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fieldError, type PanelClient, panelClient } from '../helpers/admin-panel.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';

const ADMIN = 'admin@example.com';
const APP = 'http://app.test/admin/';

const NAMES = JSON.parse(
  readFileSync(new URL('../fixtures/group-names.json', import.meta.url), 'utf8'),
) as { refused: { name: string; why: string }[] };

describe('groups in the admin panel', () => {
  let app: LoggedApp;
  let panel: PanelClient;
  let adminCookie: string;

  const groupIdOf = async (name: string) =>
    (await app.ctx.store.getGroupByName(name))?.id as string;
  const create = (name: string) =>
    panel.post(adminCookie, [
      ['action', 'create_group'],
      ['name', name],
    ]);

  beforeAll(async () => {
    app = await startLoggedApp({
      server: { public_url: 'https://auth.example.com' },
      admin: { emails: [ADMIN] },
      auth: { magic_link: { mailer: 'manual' } },
      access: {
        default_policy: 'authenticated',
        rules: [{ host: 'app.test', path: '/admin/**', groups: ['admins'] }],
      },
    });
    panel = panelClient(app);
    adminCookie = await panel.signIn(ADMIN);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('a group given in the panel lets its member through a groups rule within 1 s', async () => {
    const cookie = await panel.signIn('member@example.com');
    expect((await panel.traefik(APP, { cookie })).status).toBe(403);
    const made = await create('admins');
    expect(made.status).toBe(200);
    const page = await made.text();
    expect(page).toContain('Created the group admins.');
    const id = await groupIdOf('admins');
    const added = await panel.post(adminCookie, [
      ['action', 'add_member'],
      ['group', id],
      ['member', 'MEMBER@example.com'],
    ]);
    expect(await added.text()).toContain('member@example.com is now in admins.');
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < 1000) {
      status = (await panel.traefik(APP, { cookie })).status;
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
    const allowed = await panel.traefik(APP, { cookie });
    expect(allowed.headers.get('remote-groups')).toBe('admins');
    expect(app.logs.find((l) => l.event === 'admin.add_to_group')).toMatchObject({
      actor: ADMIN,
      subject: 'member@example.com',
      group: 'admins',
    });
  });

  it('lists every group with its source and member count', async () => {
    const claimed = await app.ctx.users.findOrCreate('claims@example.com');
    await app.ctx.store.updateUser({ ...claimed, groups: ['from-idp'] });
    const now = Date.now();
    await app.ctx.store.createGroup({
      id: 'scim-group-1',
      displayName: 'scim-staff',
      members: [claimed.id],
      createdAt: now,
      updatedAt: now,
      version: 0,
      source: 'scim',
    });
    const body = await (await panel.get('/auth/admin?groups', adminCookie)).text();
    const row = (name: string) =>
      new RegExp(
        `<tr>\\s*<td>(?:<a [^>]*>)?${name}(?:</a>)?</td>\\s*<td>(.*?)</td>\\s*<td>(\\d+)</td>`,
        's',
      ).exec(body);
    expect(row('admins')?.[1]).toContain('admin panel');
    expect(row('admins')?.[2]).toBe('1');
    expect(row('scim-staff')?.[1]).toContain('SCIM');
    expect(row('scim-staff')?.[1]).toContain('read-only');
    expect(row('from-idp')?.[1]).toContain('IdP claim');
    expect(row('from-idp')?.[2]).toBe('1');
    expect(body).toContain('<label for="group-name">Group name</label>');
  });

  it('shows SCIM groups read-only and refuses every change to them', async () => {
    const page = await (await panel.get('/auth/admin?group=scim-group-1', adminCookie)).text();
    expect(page).toContain('provisioned over SCIM');
    expect(page).not.toContain('value="rename_group"');
    expect(page).not.toContain('value="add_member"');
    expect(page).not.toContain('Delete group');
    const member = await panel.idOf('claims@example.com');
    for (const fields of [
      [
        ['action', 'rename_group'],
        ['name', 'taken-over'],
      ],
      [
        ['action', 'add_member'],
        ['member', ADMIN],
      ],
      [
        ['action', 'remove_member'],
        ['user', member],
      ],
      [
        ['action', 'delete_group'],
        ['confirm', 'yes'],
      ],
    ] as [string, string][][]) {
      const body = await (
        await panel.post(adminCookie, [...fields, ['group', 'scim-group-1']])
      ).text();
      expect(body).toContain('change it at your identity provider');
      expect(body).toMatch(/role="alert">That group is provisioned over SCIM/);
    }
    const stored = await app.ctx.store.getGroup('scim-group-1');
    expect(stored).toMatchObject({ displayName: 'scim-staff', members: [member] });
  });

  it.each(NAMES.refused.filter((c) => c.why !== 'lone surrogate'))(
    'refuses the name $why as a form error, and changes nothing',
    async ({ name }) => {
      const body = await (await create(name)).text();
      expect(fieldError(body, 'group-name')).toBeTruthy();
      expect(body).toContain('aria-invalid="true"');
      expect(body).not.toContain('Created the group');
    },
  );

  it('refuses a name another group has in any case, or a claim brings', async () => {
    expect(fieldError(await (await create('ADMINS')).text(), 'group-name')).toContain(
      'A group of that name exists',
    );
    expect(fieldError(await (await create('From-IdP')).text(), 'group-name')).toContain(
      'identity provider',
    );
  });

  it('escapes what a name holds', async () => {
    const body = await (await create('<img src=x onerror=alert(1)>')).text();
    expect(body).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(body).not.toContain('<img src=x');
  });

  it('renames, adds by username, removes, and deletes only after confirming', async () => {
    const user = await app.ctx.users.findOrCreate('zoe@example.com');
    await create('editors');
    const id = await groupIdOf('editors');
    const renamed = await (
      await panel.post(adminCookie, [
        ['action', 'rename_group'],
        ['group', id],
        ['name', 'writers'],
      ])
    ).text();
    expect(renamed).toContain('Renamed the group to writers.');
    expect(app.logs.find((l) => l.event === 'admin.rename_group')).toMatchObject({
      renamed_from: 'editors',
    });
    const unknown = await (
      await panel.post(adminCookie, [
        ['action', 'add_member'],
        ['group', id],
        ['member', 'nobody-here'],
      ])
    ).text();
    expect(fieldError(unknown, 'member')).toBe('Nobody has that email address or username.');
    await panel.post(adminCookie, [
      ['action', 'add_member'],
      ['group', id],
      ['member', user.username.toUpperCase()],
    ]);
    expect((await app.ctx.store.getUser(user.id))?.groups).toEqual(['writers']);
    const userPage = await (await panel.get(`/auth/admin?user=${user.id}`, adminCookie)).text();
    expect(userPage).toMatch(/writers<\/a><\/td>\s*<td><span class="badge info">admin panel/);
    await panel.post(adminCookie, [
      ['action', 'remove_member'],
      ['group', id],
      ['user', user.id],
    ]);
    expect((await app.ctx.store.getUser(user.id))?.groups).toEqual([]);
    await panel.post(adminCookie, [
      ['action', 'add_member'],
      ['group', id],
      ['member', 'zoe@example.com'],
    ]);

    const asked = await (
      await panel.post(adminCookie, [
        ['action', 'delete_group'],
        ['group', id],
      ])
    ).text();
    expect(asked).toContain('Delete the group writers?');
    expect(asked).toContain('Its 1 member loses it at once');
    expect(asked).toContain('name="confirm" value="yes"');
    expect(await app.ctx.store.getGroup(id)).not.toBeNull();
    const confirmPage = await (
      await panel.get(`/auth/admin?group=${id}&delete=1`, adminCookie)
    ).text();
    expect(confirmPage).toContain('<button type="submit" class="danger">Delete group writers');
    const deleted = await (
      await panel.post(adminCookie, [
        ['action', 'delete_group'],
        ['group', id],
        ['confirm', 'yes'],
      ])
    ).text();
    expect(deleted).toContain('Deleted the group writers; 1 member no longer has it.');
    expect(await app.ctx.store.getGroup(id)).toBeNull();
    expect((await app.ctx.store.getUser(user.id))?.groups).toEqual([]);
  });

  it("adds to and removes from a group on the user's page", async () => {
    const user = await app.ctx.users.findOrCreate('yuri@example.com');
    await create('support');
    const id = await groupIdOf('support');
    const page = await (await panel.get(`/auth/admin?user=${user.id}`, adminCookie)).text();
    expect(page).toContain('<label for="add-group">Add to group</label>');
    expect(page).toContain(`<option value="${id}">support</option>`);
    const added = await (
      await panel.post(adminCookie, [
        ['action', 'add_member'],
        ['group', id],
        ['user', user.id],
        ['view', user.id],
      ])
    ).text();
    expect(added).toContain('Added to support.');
    expect(added).toContain(
      '<h2><span class="address email"><span class="seg">yuri@</span><wbr><span class="seg">example</span><wbr><span class="seg">.com</span></span></h2>',
    );
    expect(added).toContain('aria-label="Remove from support"');
    const removed = await (
      await panel.post(adminCookie, [
        ['action', 'remove_member'],
        ['group', id],
        ['user', user.id],
        ['view', user.id],
      ])
    ).text();
    expect(removed).toContain('Removed from support.');
    expect((await app.ctx.store.getUser(user.id))?.groups).toEqual([]);
  });

  it('refuses a change without the CSRF token, and to non-admins', async () => {
    const before = await app.ctx.store.listGroups({ offset: 0, limit: 100 });
    const forged = await panel.post(
      adminCookie,
      [
        ['action', 'create_group'],
        ['name', 'forged'],
      ],
      null,
    );
    expect(forged.status).toBe(403);
    const wrong = await panel.post(
      adminCookie,
      [
        ['action', 'create_group'],
        ['name', 'forged'],
      ],
      'x'.repeat(43),
    );
    expect(wrong.status).toBe(403);
    const plain = await panel.signIn('plain@example.com');
    const refused = await panel.post(plain, [
      ['action', 'create_group'],
      ['name', 'forged'],
    ]);
    expect(refused.status).toBe(403);
    expect((await panel.get('/auth/admin?groups', plain)).status).toBe(403);
    const id = await groupIdOf('admins');
    const join = await panel.post(plain, [
      ['action', 'add_member'],
      ['group', id],
      ['member', 'plain@example.com'],
    ]);
    expect(join.status).toBe(403);
    expect(await app.ctx.store.getGroupByName('forged')).toBeNull();
    expect((await app.ctx.store.listGroups({ offset: 0, limit: 100 })).total).toBe(before.total);
    expect((await app.ctx.store.getUserByEmail('plain@example.com'))?.groups).toEqual([]);
  });

  it('says so when a group is gone', async () => {
    const body = await (await panel.get('/auth/admin?group=no-such-group', adminCookie)).text();
    expect(body).toContain('That user or group does not exist (any more).');
  });
});
