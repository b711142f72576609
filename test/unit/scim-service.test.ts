import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { ManualClock } from '../../src/core/clock.js';
import type { User, UserInput } from '../../src/ports/users.js';
import { ScimError } from '../../src/scim/errors.js';
import {
  type ListQuery,
  type Projection,
  projection,
  ScimService,
} from '../../src/scim/service.js';
import type { AuditEvent, AuditRecord } from '../../src/services/audit.js';

/*
 * The SCIM service in-process, over a MemoryStore: no socket, no HTTP. The takeover table is the
 * one test/http/scim-takeover.test.ts runs over HTTP; here it checks the service alone.
 */

type Json = Record<string, unknown>;
const BASE = 'https://auth.example.test/scim/v2';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const CONFIG_ADMINS = new Set<string>();
const all: Projection = (r) => r;
const noFilter: ListQuery = { filter: null, startIndex: null, count: null };
const filter = (text: string): ListQuery => ({ filter: text, startIndex: null, count: null });

interface Harness {
  store: MemoryStore;
  service: ScimService;
  events: string[];
}

function harness(): Harness {
  const clock = new ManualClock(1_700_000_000_000);
  const store = new MemoryStore(clock);
  const events: string[] = [];
  const service = new ScimService({
    users: store,
    groups: store,
    sessions: {
      revokeUser: (id) => store.deleteUserSessions(id),
      refreshUser: async () => {},
    },
    audit: {
      record: async (event: AuditEvent, _who: AuditRecord) => {
        events.push(event.event);
      },
    },
    clock,
    logger: { warn: () => {} },
    isProtectedAdmin: (user) => user.admin === true || CONFIG_ADMINS.has(user.email),
    base: BASE,
    random: () => 0,
  });
  return { store, service, events };
}

/** The `ScimError` a call throws, as `{ status, scimType }`; fails when it does not throw one. */
async function refusal(
  run: () => Promise<unknown>,
): Promise<{ status: number; scimType?: string }> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof ScimError)) throw error;
    return { status: error.status, ...(error.scimType ? { scimType: error.scimType } : {}) };
  }
  throw new Error('expected a ScimError');
}

const resources = (list: Json) => list.Resources as Json[];

describe('SCIM service: users', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  it('creates, reads, lists, filters, replaces, patches and deletes a user', async () => {
    const { service, store, events } = h;
    const created = await service.users.create(
      { schemas: [USER], userName: 'Ann@Example.com', externalId: 'ext-1', displayName: 'Ann' },
      all,
      null,
    );
    const id = created.resource.id as string;
    expect(created.location).toBe(`${BASE}/Users/${id}`);
    expect(created.resource.userName).toBe('Ann@Example.com');
    expect((await store.getUser(id))?.provisionedBy).toBe('scim');
    expect((await service.users.get(id, all)).externalId).toBe('ext-1');

    await service.users.create({ schemas: [USER], userName: 'bob@example.com' }, all, null);
    const list = await service.users.list(noFilter, all);
    expect(list.totalResults).toBe(2);
    const byEmail = await service.users.list(filter('userName eq "ann@example.com"'), all);
    expect(resources(byEmail).map((r) => r.id)).toEqual([id]);
    const byExternal = await service.users.list(filter('externalId eq "ext-1"'), all);
    expect(byExternal.totalResults).toBe(1);
    const none = await service.users.list(filter('externalId eq "EXT-1"'), all);
    expect(none.totalResults).toBe(0);
    const page = await service.users.list({ filter: null, startIndex: '2', count: '1' }, all);
    expect([page.startIndex, page.itemsPerPage, page.totalResults]).toEqual([2, 1, 2]);

    const put = await service.users.replace(
      id,
      { schemas: [USER], userName: 'Ann@Example.com', displayName: 'Ann B', externalId: 'ext-1' },
      all,
      null,
    );
    expect(put.displayName).toBe('Ann B');
    const patched = await service.users.patch(
      id,
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] },
      all,
      null,
    );
    expect(patched.active).toBe(false);

    await service.users.remove(id, null);
    expect(await store.getUser(id)).toBeNull();
    expect(await refusal(() => service.users.get(id, all))).toEqual({ status: 404 });
    expect(events).toEqual([
      'scim.create_user',
      'scim.create_user',
      'scim.update_user',
      'scim.deactivate_user',
      'scim.delete_user',
    ]);
  });

  it('applies attributes / excludedAttributes, always keeping id and schemas', async () => {
    const { service } = h;
    const { resource } = await service.users.create(
      { schemas: [USER], userName: 'p@example.com', displayName: 'P' },
      all,
      null,
    );
    const only = await service.users.get(resource.id as string, projection('userName', null));
    expect(Object.keys(only).sort()).toEqual(['id', 'schemas', 'userName']);
    const without = await service.users.get(resource.id as string, projection(null, 'meta'));
    expect(without.meta).toBeUndefined();
    expect(without.userName).toBe('p@example.com');
  });

  it.each([
    ['startIndex not a number', { filter: null, startIndex: 'x', count: null }, 400],
    ['count not a number', { filter: null, startIndex: null, count: '1e3' }, 400],
    ['filter that does not parse', filter('userName eq'), 400],
    ['filter on an unknown operator', filter('userName zz "a"'), 400],
  ] as const)('refuses a list with %s', async (_name, query, status) => {
    const result = await refusal(() => h.service.users.list(query, all));
    expect(result.status).toBe(status);
  });

  it.each([
    ['an unknown user', 'GET'],
    ['an unknown user', 'PUT'],
    ['an unknown user', 'PATCH'],
    ['an unknown user', 'DELETE'],
  ])('answers 404 for %s (%s)', async (_name, method) => {
    const { users } = h.service;
    const id = 'no-such-id';
    const body = { schemas: [USER], userName: 'x@example.com' };
    const run = {
      GET: () => users.get(id, all),
      PUT: () => users.replace(id, body, all, null),
      PATCH: () => users.patch(id, { schemas: [PATCH_OP], Operations: [] }, all, null),
      DELETE: () => users.remove(id, null),
    }[method] as () => Promise<unknown>;
    expect(await refusal(run)).toEqual({ status: 404 });
  });
});

describe('SCIM service: groups', () => {
  it('creates, filters, patches, replaces and deletes a group, mirroring membership', async () => {
    const { service, store } = harness();
    const ann = (await service.users.create({ schemas: [USER], userName: 'ann@e.test' }, all, null))
      .resource.id as string;
    const bob = (await service.users.create({ schemas: [USER], userName: 'bob@e.test' }, all, null))
      .resource.id as string;
    const created = await service.groups.create(
      { schemas: [GROUP], displayName: 'Eng', members: [{ value: ann }, { value: 'gone' }] },
      all,
      null,
    );
    const id = created.resource.id as string;
    expect(created.location).toBe(`${BASE}/Groups/${id}`);
    // A member that does not exist is dropped.
    expect((created.resource.members as Json[]).map((m) => m.value)).toEqual([ann]);
    expect((await store.getUser(ann))?.groups).toEqual(['Eng']);
    expect(((await service.users.get(ann, all)).groups as Json[]).map((g) => g.display)).toEqual([
      'Eng',
    ]);

    expect((await service.groups.list(filter('displayName eq "eng"'), all)).totalResults).toBe(1);
    expect((await service.groups.list(filter('displayName sw "E"'), all)).totalResults).toBe(1);
    expect((await service.groups.list(noFilter, all)).totalResults).toBe(1);

    await service.groups.patch(
      id,
      {
        schemas: [PATCH_OP],
        Operations: [{ op: 'add', path: 'members', value: [{ value: bob }] }],
      },
      all,
      null,
    );
    expect((await store.getUser(bob))?.groups).toEqual(['Eng']);

    const renamed = await service.groups.replace(
      id,
      { schemas: [GROUP], displayName: 'Platform', members: [{ value: bob }] },
      all,
      null,
    );
    expect(renamed.displayName).toBe('Platform');
    expect((await store.getUser(ann))?.groups).toEqual([]);
    expect((await store.getUser(bob))?.groups).toEqual(['Platform']);

    expect(
      await refusal(() =>
        service.groups.create({ schemas: [GROUP], displayName: 'platform' }, all, null),
      ),
    ).toEqual({ status: 409, scimType: 'uniqueness' });

    await service.groups.remove(id, null);
    expect(await store.getGroup(id)).toBeNull();
    expect((await store.getUser(bob))?.groups).toEqual([]);
    expect(await refusal(() => service.groups.get(id, all))).toEqual({ status: 404 });
  });

  it('deleting a user takes it out of its groups', async () => {
    const { service, store } = harness();
    const ann = (await service.users.create({ schemas: [USER], userName: 'ann@e.test' }, all, null))
      .resource.id as string;
    const group = await service.groups.create(
      { schemas: [GROUP], displayName: 'Eng', members: [{ value: ann }] },
      all,
      null,
    );
    await service.users.remove(ann, null);
    expect((await store.getGroup(group.resource.id as string))?.members).toEqual([]);
  });
});

describe('SCIM service: discovery', () => {
  it.each([
    ['serviceproviderconfig', null, 200],
    ['serviceproviderconfig', 'x', 404],
    ['resourcetypes', null, 200],
    ['resourcetypes', 'user', 200],
    ['resourcetypes', 'Nope', 404],
    ['schemas', USER, 200],
    ['schemas', 'urn:nope', 404],
  ] as const)('%s/%s answers %i', async (kind, id, status) => {
    const { service } = harness();
    if (status === 200) expect(service.discover(kind, id)).toBeTypeOf('object');
    else expect(await refusal(async () => service.discover(kind, id))).toEqual({ status });
  });
});

interface TakeoverCase {
  name: string;
  target: {
    made: 'self' | 'scim';
    admin?: 'config' | 'panel';
    active?: boolean;
    externalId?: string;
    userName?: string;
  };
  other?: { externalId: string };
  request: { method: 'POST' | 'PUT' | 'PATCH'; body: unknown };
  status: number;
  scimType?: string;
  after?: { email?: string; userName?: string; externalId?: string; active?: boolean };
  sessionEnds?: boolean;
}

const takeover = (
  JSON.parse(readFileSync(new URL('../fixtures/scim-takeover.json', import.meta.url), 'utf8')) as {
    cases: TakeoverCase[];
  }
).cases;

describe('SCIM service: email protections, uniqueness and round trips (takeover table)', () => {
  it.each(takeover.map((c, n) => [c.name, c, n] as const))('%s', async (_name, c, n) => {
    const { service, store } = harness();
    const email = `c${n}-target@example.test`;
    const fresh = `c${n}-new@example.test`;
    const otherExternalId = c.other?.externalId.replaceAll('{n}', String(n));
    const fill = (text: string) =>
      text
        .replaceAll('{target}', email)
        .replaceAll('{new}', fresh)
        .replaceAll('{otherExternalId}', otherExternalId ?? '')
        .replaceAll('{n}', String(n));
    const substitute = (value: unknown): unknown =>
      typeof value === 'string'
        ? fill(value)
        : Array.isArray(value)
          ? value.map(substitute)
          : value && typeof value === 'object'
            ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v)]))
            : value;

    const target: UserInput = {
      id: `target-${n}`,
      email,
      name: 'Target',
      groups: [],
      active: c.target.active ?? true,
      verified: true,
      createdAt: 0,
      lastLoginAt: null,
      ...(c.target.made === 'scim' ? { provisionedBy: 'scim' as const } : {}),
      ...(c.target.admin === 'panel' ? { admin: true } : {}),
      ...(c.target.externalId ? { externalId: fill(c.target.externalId) } : {}),
      ...(c.target.userName ? { userName: fill(c.target.userName) } : {}),
    };
    await store.createUser(target);
    if (c.target.admin === 'config') CONFIG_ADMINS.add(email);
    if (otherExternalId)
      await store.createUser({
        ...target,
        id: `other-${n}`,
        email: `c${n}-other@example.test`,
        externalId: otherExternalId,
        provisionedBy: 'scim',
      });
    await store.createSession({
      id: `session-${n}`,
      userId: target.id,
      createdAt: 0,
      lastSeenAt: 0,
      expiresAt: Number.MAX_SAFE_INTEGER,
      ip: '192.0.2.1',
      userAgent: 'test',
      method: 'magic_link',
    });
    const before = await store.getUser(target.id);

    const body = substitute(c.request.body);
    const run = async (): Promise<Json> => {
      if (c.request.method === 'POST')
        return (await service.users.create(body, all, null)).resource;
      const patchBody = { schemas: [PATCH_OP], ...(body as Json) };
      return c.request.method === 'PUT'
        ? service.users.replace(target.id, { schemas: [USER], ...(body as Json) }, all, null)
        : service.users.patch(target.id, patchBody, all, null);
    };

    try {
      if (c.status >= 400) {
        const result = await refusal(run);
        expect(result.status).toBe(c.status);
        if (c.scimType) expect(result.scimType).toBe(c.scimType);
        // A refusal changes nothing: the target reads back as it was, its session lives on.
        expect(await store.getUser(target.id)).toEqual(before);
        expect(await store.getSession(`session-${n}`)).not.toBeNull();
        return;
      }
      const answer = await run();
      const stored = await store.getUser(answer.id as string);
      for (const [key, value] of Object.entries(c.after ?? {}))
        expect(stored?.[key as keyof User], key).toEqual(
          typeof value === 'string' ? fill(value) : value,
        );
      if (c.sessionEnds !== undefined)
        expect((await store.getSession(`session-${n}`)) === null).toBe(c.sessionEnds);
    } finally {
      CONFIG_ADMINS.delete(email);
    }
  });
});
