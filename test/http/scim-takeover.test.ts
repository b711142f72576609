import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '../../src/ports/store.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { ENV, ERROR, type Json, PATCH_OP, scimRequest, USER } from '../helpers/scim.js';

/**
 * SCIM takeover and round-trip cases (test/fixtures/scim-takeover.json), on the memory store
 * and on Redis with two instances (requests to one, sessions checked on the other).
 */
interface Case {
  name: string;
  target: {
    made: 'self' | 'scim';
    admin?: 'config' | 'panel';
    active?: boolean;
    externalId?: string;
    userName?: string;
  };
  other?: { externalId: string };
  request: { method: 'POST' | 'PUT' | 'PATCH'; body: Json };
  status: number;
  scimType?: string;
  after?: { email?: string; userName?: string; active?: boolean; externalId?: string };
  sessionEnds?: boolean;
}

const { cases } = JSON.parse(
  readFileSync(new URL('../fixtures/scim-takeover.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

const numbered = cases.map((c, index) => ({ ...c, n: index + 1 }));
const targetEmail = (n: number) => `c${n}-target@corp.test`;
const newEmail = (n: number) => `c${n}-new@attacker.test`;
const fill = (text: string, values: Record<string, string>) =>
  text.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole);

const ADMIN_EMAILS = numbered
  .filter((c) => c.target.admin === 'config')
  .map((c) => targetEmail(c.n));

describe.each(['memory', 'redis'] as const)('SCIM takeover and round trip (%s store)', (kind) => {
  let redis: RedisServer | null = null;
  let one: TestApp;
  let two: TestApp;

  beforeAll(async () => {
    const config: Record<string, unknown> = {
      scim: { enabled: true },
      admin: { emails: ['root@corp.test', ...ADMIN_EMAILS] },
    };
    if (kind === 'redis') {
      redis = await startRedis();
      config.store = { url: redis.url };
      one = await startTestApp(config, { env: ENV });
      two = await startTestApp(config, { env: ENV });
    } else {
      one = await startTestApp(config, { env: ENV });
      two = one;
    }
  });
  afterAll(async () => {
    if (two !== one) await two?.close();
    await one?.close();
    await redis?.stop();
  });

  const scim = (method: string, path: string, body?: unknown) =>
    scimRequest(one.url, method, path, body);
  const check = (cookie: string) =>
    fetch(`${two.url}/auth/nginx`, {
      headers: {
        cookie: `portcullis_session=${cookie}`,
        'x-original-url': 'http://app.test/',
        'x-original-method': 'GET',
      },
    });
  /** Polls the other instance until the session is refused; fails after 1 s. */
  const endsWithinOneSecond = async (cookie: string) => {
    const start = Date.now();
    while ((await check(cookie)).status !== 401) {
      if (Date.now() - start > 1000) throw new Error('the session outlived the change by 1 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  async function makeTarget(c: (typeof numbered)[number], values: Record<string, string>) {
    const email = targetEmail(c.n);
    let id: string;
    if (c.target.made === 'self') {
      id = randomUUID();
      await one.ctx.store.createUser({
        id,
        email,
        name: 'Self',
        groups: [],
        active: c.target.active ?? true,
        verified: true,
        createdAt: Date.now(),
        lastLoginAt: null,
      });
    } else {
      const created = await scim('POST', '/Users', {
        schemas: [USER],
        userName: c.target.userName ? fill(c.target.userName, values) : email,
        emails: [{ value: email, primary: true, type: 'work' }],
        ...(c.target.externalId ? { externalId: fill(c.target.externalId, values) } : {}),
        active: c.target.active ?? true,
      });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      id = created.json.id as string;
    }
    if (c.target.admin === 'panel') {
      const user = (await one.ctx.store.getUser(id)) as User;
      await one.ctx.store.updateUser({ ...user, admin: true });
    }
    return id;
  }

  it.each(numbered)('$n: $name', async (c) => {
    const values: Record<string, string> = {
      n: String(c.n),
      target: targetEmail(c.n),
      new: newEmail(c.n),
    };
    if (c.other) {
      values.otherExternalId = fill(c.other.externalId, values);
      const other = await scim('POST', '/Users', {
        schemas: [USER],
        userName: `c${c.n}-other@corp.test`,
        externalId: values.otherExternalId,
      });
      expect(other.status).toBe(201);
    }
    const id = await makeTarget(c, values);
    values.id = id;
    const cookie = c.target.active === false ? null : await one.login(targetEmail(c.n));
    if (cookie) expect((await check(cookie)).status).toBe(200);
    const stored = await one.ctx.store.getUser(id);
    const shown = (await scim('GET', `/Users/${id}`)).json;

    const body = JSON.parse(fill(JSON.stringify(c.request.body), values)) as Json;
    const sent =
      c.request.method === 'PATCH'
        ? { schemas: [PATCH_OP], ...body }
        : { schemas: [USER], ...body };
    const result = await scim(
      c.request.method,
      c.request.method === 'POST' ? '/Users' : `/Users/${id}`,
      sent,
    );
    expect(result.status, JSON.stringify(result.json)).toBe(c.status);

    if (c.status >= 400) {
      expect(result.json.schemas).toEqual([ERROR]);
      expect(result.json.status).toBe(String(c.status));
      if (c.scimType) expect(result.json.scimType).toBe(c.scimType);
      // Nothing changed: the record, what SCIM shows, and the session.
      expect(await one.ctx.store.getUser(id)).toEqual(stored);
      expect((await scim('GET', `/Users/${id}`)).json).toEqual(shown);
      expect(await one.ctx.store.getUserByEmail(newEmail(c.n))).toBeNull();
      if (cookie) expect((await check(cookie)).status).toBe(200);
      return;
    }

    const changedId = c.request.method === 'POST' ? (result.json.id as string) : id;
    const after = c.after ?? {};
    const user = await one.ctx.store.getUser(changedId);
    const read = (await scim('GET', `/Users/${changedId}`)).json;
    if (after.email !== undefined) {
      expect(user?.email).toBe(fill(after.email, values));
      expect((read.emails as Json[])[0]?.value).toBe(fill(after.email, values));
    }
    if (after.active !== undefined) {
      expect(user?.active).toBe(after.active);
      expect(read.active).toBe(after.active);
    }
    if (after.externalId !== undefined)
      expect(read.externalId).toBe(fill(after.externalId, values));
    if (after.userName !== undefined) {
      const userName = fill(after.userName, values);
      expect(result.json.userName).toBe(userName);
      expect(read.userName).toBe(userName);
      // Matching stays case-insensitive.
      const filter = encodeURIComponent(`userName eq "${userName.toLowerCase()}"`);
      const found = await scim('GET', `/Users?filter=${filter}`);
      expect((found.json.Resources as Json[]).map((r) => r.id)).toEqual([changedId]);
    }
    if (cookie && c.sessionEnds === true) await endsWithinOneSecond(cookie);
    if (cookie && c.sessionEnds === false) expect((await check(cookie)).status).toBe(200);
  });

  it('a SCIM group named portcullis-admins makes nobody an admin', async () => {
    const user = await scim('POST', '/Users', { schemas: [USER], userName: 'grouped@corp.test' });
    const group = await scim('POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'portcullis-admins',
      members: [{ value: user.json.id }],
    });
    expect(group.status).toBe(201);
    const cookie = await one.login('grouped@corp.test');
    const me = await fetch(`${two.url}/auth/me`, {
      headers: { cookie: `portcullis_session=${cookie}` },
    });
    const body = (await me.json()) as { groups: string[]; admin: boolean };
    expect(body.groups).toContain('portcullis-admins');
    expect(body.admin).toBe(false);
    const panel = await fetch(`${two.url}/auth/admin`, {
      headers: { cookie: `portcullis_session=${cookie}` },
      redirect: 'manual',
    });
    expect(panel.status).toBe(403);
  });
});
