import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { BEARER, ENV, GROUP, type Json, PATCH_OP, scimRequest, USER } from '../helpers/scim.js';

describe('SCIM groups', () => {
  let app: TestApp;

  const scim = (method: string, path: string, body?: unknown, auth?: string) =>
    scimRequest(app.url, method, path, body, auth);

  /** The auth check for a host whose rule needs the `engineering` group. */
  const check = (cookie: string, host = 'eng.test') =>
    fetch(`${app.url}/auth/nginx`, {
      headers: { cookie: `portcullis_session=${cookie}`, 'x-original-url': `http://${host}/` },
    });

  const createUser = async (email: string) => {
    const result = await scim('POST', '/Users', { schemas: [USER], userName: email, active: true });
    expect(result.status).toBe(201);
    return result.json.id as string;
  };

  const groupsOf = async (id: string) => (await app.ctx.store.getUser(id))?.groups;
  const memberIds = (group: Json) => ((group.members as Json[]) ?? []).map((m) => m.value).sort();

  beforeAll(async () => {
    app = await startTestApp(
      {
        scim: { enabled: true },
        access: { rules: [{ host: 'eng.test', groups: ['engineering'] }] },
      },
      { env: ENV },
    );
  });
  afterAll(async () => {
    await app?.close();
  });

  it('Okta push groups: create, add and remove members, rename, delete; headers and rules follow', async () => {
    const amy = await createUser('amy@example.com');
    const bob = await createUser('bob@example.com');
    const amyCookie = await app.login('amy@example.com');
    const bobCookie = await app.login('bob@example.com');
    expect((await check(amyCookie)).status).toBe(403);
    // Okta looks the group up, then creates it empty.
    const lookup = await scim(
      'GET',
      `/Groups?filter=${encodeURIComponent('displayName eq "Engineering"')}`,
    );
    expect(lookup.json.totalResults).toBe(0);
    const created = await scim('POST', '/Groups', {
      schemas: [GROUP],
      displayName: 'engineering',
      members: [],
    });
    expect(created.status).toBe(201);
    const gid = created.json.id as string;
    expect(created.json).toMatchObject({
      schemas: [GROUP],
      displayName: 'engineering',
      members: [],
    });
    // Okta's membership PATCH: remove by filter path, add with a value list.
    const patched = await scim('PATCH', `/Groups/${gid}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'remove', path: `members[value eq "${bob}"]` },
        {
          op: 'add',
          path: 'members',
          value: [{ value: amy, display: 'amy@example.com' }, { value: bob }],
        },
      ],
    });
    expect(patched.status).toBe(200);
    expect(memberIds(patched.json)).toEqual([amy, bob].sort());
    expect(await groupsOf(amy)).toEqual(['engineering']);
    const allowed = await check(amyCookie);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('remote-groups')).toBe('engineering');
    expect((await check(bobCookie)).status).toBe(200);
    // The user resource lists its groups.
    const amyScim = await scim('GET', `/Users/${amy}`);
    expect(amyScim.json.groups).toEqual([
      expect.objectContaining({ value: gid, display: 'engineering' }),
    ]);
    // Remove one member.
    await scim('PATCH', `/Groups/${gid}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'remove', path: `members[value eq "${bob}"]` }],
    });
    expect(await groupsOf(bob)).toEqual([]);
    expect((await check(bobCookie)).status).toBe(403);
    // Rename (Okta sends the id inside the value): members' groups follow the new name.
    const renamed = await scim('PATCH', `/Groups/${gid}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', value: { id: gid, displayName: 'eng-renamed' } }],
    });
    expect(renamed.json.displayName).toBe('eng-renamed');
    expect(await groupsOf(amy)).toEqual(['eng-renamed']);
    expect((await check(amyCookie)).status).toBe(403);
    expect((await check(amyCookie, 'other.test')).headers.get('remote-groups')).toBe('eng-renamed');
    // Delete: the group and the memberships go.
    expect((await scim('DELETE', `/Groups/${gid}`)).status).toBe(204);
    expect((await scim('GET', `/Groups/${gid}`)).status).toBe(404);
    expect(await groupsOf(amy)).toEqual([]);
  });

  it('Entra ID shapes: Add/Remove with value lists, excludedAttributes=members, members filter', async () => {
    const cy = await createUser('cy@example.com');
    const di = await createUser('di@example.com');
    const created = await scim(
      'POST',
      '/Groups',
      { schemas: [GROUP], externalId: 'e-ops', displayName: 'Ops', members: [{ value: cy }] },
      BEARER,
    );
    const gid = created.json.id as string;
    expect(await groupsOf(cy)).toEqual(['Ops']);
    const slim = await scim(
      'GET',
      `/Groups?filter=${encodeURIComponent('displayName eq "ops"')}&excludedAttributes=members`,
      undefined,
      BEARER,
    );
    expect(slim.json.totalResults).toBe(1);
    const first = (slim.json.Resources as Json[])[0] as Json;
    expect(first.members).toBeUndefined();
    expect(first).toMatchObject({ id: gid, displayName: 'Ops', externalId: 'e-ops' });
    await scim(
      'PATCH',
      `/Groups/${gid}`,
      { schemas: [PATCH_OP], Operations: [{ op: 'Add', path: 'members', value: [{ value: di }] }] },
      BEARER,
    );
    expect(await groupsOf(di)).toEqual(['Ops']);
    const member = await scim(
      'GET',
      `/Groups?filter=${encodeURIComponent(`id eq "${gid}" and members[value eq "${di}"]`)}`,
      undefined,
      BEARER,
    );
    expect(member.json.totalResults).toBe(1);
    await scim(
      'PATCH',
      `/Groups/${gid}`,
      {
        schemas: [PATCH_OP],
        Operations: [{ op: 'Remove', path: 'members', value: [{ value: cy }] }],
      },
      BEARER,
    );
    expect(await groupsOf(cy)).toEqual([]);
    const notMember = await scim(
      'GET',
      `/Groups?filter=${encodeURIComponent(`id eq "${gid}" and members eq "${cy}"`)}`,
      undefined,
      BEARER,
    );
    expect(notMember.json.totalResults).toBe(0);
    // Removing a member who is not there is not an error.
    expect(
      (
        await scim(
          'PATCH',
          `/Groups/${gid}`,
          {
            schemas: [PATCH_OP],
            Operations: [{ op: 'remove', path: `members[value eq "${cy}"]` }],
          },
          BEARER,
        )
      ).status,
    ).toBe(200);
  });

  it('PUT replaces members; unknown member ids are dropped; other groups of a user stay', async () => {
    const ed = await createUser('ed@example.com');
    const fay = await createUser('fay@example.com');
    const user = await app.ctx.store.getUser(ed);
    await app.ctx.store.updateUser({
      ...(user as NonNullable<typeof user>),
      groups: ['from-oidc'],
    });
    const created = await scim('POST', '/Groups', {
      schemas: [GROUP],
      displayName: 'sales',
      members: [{ value: ed }, { value: 'no-such-user' }],
    });
    const gid = created.json.id as string;
    expect(memberIds(created.json)).toEqual([ed]);
    expect(await groupsOf(ed)).toEqual(['from-oidc', 'sales']);
    const put = await scim('PUT', `/Groups/${gid}`, {
      schemas: [GROUP],
      displayName: 'sales',
      members: [{ value: fay }],
    });
    expect(memberIds(put.json)).toEqual([fay]);
    expect(await groupsOf(ed)).toEqual(['from-oidc']);
    expect(await groupsOf(fay)).toEqual(['sales']);
    // Deleting a user takes them out of their groups.
    expect((await scim('DELETE', `/Users/${fay}`)).status).toBe(204);
    expect(memberIds((await scim('GET', `/Groups/${gid}`)).json)).toEqual([]);
  });

  it('refuses duplicate names (409), bad names and bad member lists (400)', async () => {
    const first = await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'unique' });
    expect(first.status).toBe(201);
    const dup = await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'UNIQUE' });
    expect(dup.status).toBe(409);
    expect(dup.json.scimType).toBe('uniqueness');
    const other = await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'other' });
    const rename = await scim('PATCH', `/Groups/${other.json.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', path: 'displayName', value: 'Unique' }],
    });
    expect(rename.status).toBe(409);
    for (const body of [
      { schemas: [GROUP] },
      { schemas: [GROUP], displayName: '' },
      { schemas: [GROUP], displayName: 'a,b' },
      { schemas: [GROUP], displayName: 'tab\there' },
      { schemas: [GROUP], displayName: ['x'] },
      { schemas: [GROUP], displayName: 'x', members: 'everyone' },
      { schemas: [GROUP], displayName: 'x', members: [{}] },
      { schemas: [GROUP], displayName: 'x', members: [{ value: 5 }] },
      { schemas: [GROUP], displayName: 'x', members: Array(10_001).fill({ value: 'u' }) },
      { schemas: [USER], displayName: 'x' },
    ]) {
      const result = await scim('POST', '/Groups', body);
      expect(result.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(result.json.schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:Error']);
    }
    const patch = await scim('PATCH', `/Groups/${first.json.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'add', path: 'displayName[value eq "x"]', value: 'y' }],
    });
    expect(patch.status).toBe(400);
    expect(patch.json.scimType).toBe('invalidPath');
  });
});
