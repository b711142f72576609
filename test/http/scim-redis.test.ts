import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { BASIC_ENV as ENV, GROUP, PATCH_OP, scimRequest, USER } from '../helpers/scim.js';

/** Two portcullis instances on one real redis-server, as behind a load balancer. */
describe('SCIM with Redis, two instances', () => {
  let redis: RedisServer;
  let one: TestApp;
  let two: TestApp;

  const scim = (app: TestApp, method: string, path: string, body?: unknown) =>
    scimRequest(app.url, method, path, body);

  const check = (app: TestApp, cookie: string, host = 'app.test') =>
    fetch(`${app.url}/auth/nginx`, {
      headers: { cookie: `portcullis_session=${cookie}`, 'x-original-url': `http://${host}/` },
    });

  /** Polls the check until it answers `status`; returns how long that took. */
  const until = async (app: TestApp, cookie: string, status: number, host?: string) => {
    const start = Date.now();
    for (;;) {
      if ((await check(app, cookie, host)).status === status) return Date.now() - start;
      if (Date.now() - start > 3000) throw new Error(`check never answered ${status}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  beforeAll(async () => {
    redis = await startRedis();
    const config = {
      store: { url: redis.url },
      scim: { enabled: true },
      access: { rules: [{ host: 'vip.test', groups: ['vip'] }] },
    };
    one = await startTestApp(config, { env: ENV });
    two = await startTestApp(config, { env: ENV });
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    await redis?.stop();
  });

  it('Okta deactivation on one instance ends the session on the other within 1 s', async () => {
    const created = await scim(one, 'POST', '/Users', {
      schemas: [USER],
      userName: 'remote@example.com',
      emails: [{ value: 'remote@example.com', primary: true, type: 'work' }],
      active: true,
    });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    // The other instance sees the user at once (shared store).
    const found = await scim(
      two,
      'GET',
      `/Users?filter=${encodeURIComponent('userName eq "remote@example.com"')}`,
    );
    expect(found.json.totalResults).toBe(1);
    const cookie = await two.login('remote@example.com');
    // Warm the other instance's cache, so the revocation has to travel over pub/sub.
    expect((await check(two, cookie)).status).toBe(200);
    expect((await check(two, cookie)).status).toBe(200);
    const patch = await scim(one, 'PATCH', `/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    expect(patch.json.active).toBe(false);
    expect(await until(two, cookie, 401)).toBeLessThan(1000);
    expect((await check(one, cookie)).status).toBe(401);
  });

  it('Entra ID delete on one instance ends the session on the other within 1 s', async () => {
    const created = await scim(one, 'POST', '/Users', {
      schemas: [USER],
      userName: 'del@example.com',
    });
    const cookie = await two.login('del@example.com');
    expect((await check(two, cookie)).status).toBe(200);
    expect((await scim(one, 'DELETE', `/Users/${created.json.id}`)).status).toBe(204);
    expect(await until(two, cookie, 401)).toBeLessThan(1000);
    expect((await scim(two, 'GET', `/Users/${created.json.id}`)).status).toBe(404);
  });

  it('group membership set through one instance opens a rule on the other', async () => {
    const created = await scim(one, 'POST', '/Users', {
      schemas: [USER],
      userName: 'vip@example.com',
    });
    const cookie = await two.login('vip@example.com');
    expect((await check(two, cookie, 'vip.test')).status).toBe(403);
    const group = await scim(one, 'POST', '/Groups', {
      schemas: [GROUP],
      displayName: 'vip',
      members: [{ value: created.json.id }],
    });
    expect(group.status).toBe(201);
    // Group changes are not revocations: the other instance re-reads within its cache TTL (1 s).
    expect(await until(two, cookie, 200, 'vip.test')).toBeLessThan(1500);
    expect((await check(two, cookie, 'vip.test')).headers.get('remote-groups')).toBe('vip');
    const listed = await scim(
      two,
      'GET',
      `/Groups?filter=${encodeURIComponent('displayName eq "VIP"')}`,
    );
    expect(listed.json.totalResults).toBe(1);
  });

  it('two instances PATCH-adding members to one group at once lose none of them', async () => {
    const group = await scim(one, 'POST', '/Groups', { schemas: [GROUP], displayName: 'crowd' });
    expect(group.status).toBe(201);
    const gid = group.json.id as string;
    const ids: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      const created = await scim(i % 2 ? two : one, 'POST', '/Users', {
        schemas: [USER],
        userName: `crowd${i}@example.com`,
      });
      expect(created.status).toBe(201);
      ids.push(created.json.id as string);
    }
    // Instance one adds the even users, two the odd ones, one member per PATCH, all in flight
    // together: each instance's group read-modify-write interleaves with the other's.
    const answers = await Promise.all(
      ids.map((id, i) =>
        scim(i % 2 ? two : one, 'PATCH', `/Groups/${gid}`, {
          schemas: [PATCH_OP],
          Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }],
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200));
    const stored = await scim(two, 'GET', `/Groups/${gid}`);
    const members = (stored.json.members as { value: string }[]).map((m) => m.value);
    expect([...members].sort()).toEqual([...ids].sort());
    for (const [i, id] of ids.entries()) {
      const member = await scim(i % 2 ? one : two, 'GET', `/Users/${id}`);
      expect(member.json.groups, `user ${i}`).toEqual([
        expect.objectContaining({ value: gid, display: 'crowd' }),
      ]);
      // The mirror itself, which identity headers and access rules read.
      expect((await one.ctx.store.getUser(id))?.groups, `user ${i}`).toEqual(['crowd']);
    }
  });
});
