import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { type Clock, systemClock } from '../../src/core/clock.js';
import { SessionTokens } from '../../src/core/session-token.js';
import type { Group, Store, User } from '../../src/ports/store.js';
import { ScimError } from '../../src/scim/errors.js';
import { type Projection, ScimService } from '../../src/scim/service.js';
import { AdminService } from '../../src/services/admin.js';
import { AdminGroups, type GroupRefusal } from '../../src/services/admin-groups.js';
import { type AuditEvent, AuditLog, type AuditRecord } from '../../src/services/audit.js';
import { LoginLinks } from '../../src/services/login-links.js';
import { SessionService } from '../../src/services/sessions.js';
import { UserService } from '../../src/services/users.js';
import { OpenStores, storeKinds } from '../helpers/store-kinds.js';

/*
 * Groups in the admin panel, over the memory store and a real redis-server: the same file for
 * both. "peer" is a second handle on the same state (another instance).
 */

const kinds = storeKinds('admin-groups');
const names = JSON.parse(
  readFileSync(new URL('../fixtures/group-names.json', import.meta.url), 'utf8'),
) as {
  refused: { name: string; why: string }[];
  accepted: { name: string; stored: string }[];
};

const BASE = 'https://auth.example.test/scim/v2';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const all: Projection = (r) => r;

interface Logged {
  event: string;
  subject: string | null;
  facts: Record<string, unknown>;
}

function harness(store: Store, clock: Clock, adminGroups: string[] = []) {
  const events: Logged[] = [];
  const users = new UserService(store, clock, {
    emails: ['boss@example.com'],
    groups: adminGroups,
  });
  const record = async (event: AuditEvent, who: AuditRecord) => {
    const subject = who.subject ?? null;
    events.push({
      event: event.event,
      subject: subject === null ? null : 'email' in subject ? subject.email : subject.label,
      facts: 'facts' in event ? { ...event.facts } : {},
    });
  };
  const groups = new AdminGroups({
    store,
    sessions: { refreshUser: async () => {} },
    audit: { record },
    clock,
    isAdmin: (user) => users.isAdmin(user),
    random: () => 0,
  });
  const scim = new ScimService({
    users: store,
    groups: store,
    sessions: { revokeUser: (id) => store.deleteUserSessions(id), refreshUser: async () => {} },
    audit: { record },
    clock,
    logger: { warn: () => {} },
    isProtectedAdmin: (user) => users.isAdmin(user),
    base: BASE,
    random: () => 0,
  });
  return { groups, scim, events };
}

async function person(store: Store, email: string, groups: string[] = []): Promise<User> {
  return store.createUser({
    id: `u-${randomBytes(6).toString('hex')}`,
    email,
    name: email.split('@')[0] as string,
    groups,
    active: true,
    verified: true,
    createdAt: 1,
    lastLoginAt: null,
  });
}

async function groupsOf(store: Store, user: User): Promise<string[]> {
  return ((await store.getUser(user.id))?.groups ?? []).slice().sort();
}

function created(result: Awaited<ReturnType<AdminGroups['createGroup']>>): Group {
  if (!result.ok) throw new Error(`expected a group, got ${result.reason}`);
  return result.group;
}

/** The SCIM status and scimType a call fails with. */
async function scimRefusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (error instanceof ScimError) return `${error.status} ${error.scimType ?? ''}`.trim();
    throw error;
  }
  return 'accepted';
}

describe.each(kinds)('$name store: admin groups', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(() => kind.closeOpened());

  it('creates a group made in the panel: listed as admin, editable, empty, audited', async () => {
    const { store, peer, clock } = await kind.open();
    const { groups, events } = harness(store, clock);
    const boss = await person(store, 'boss@example.com');
    const ops = created(await groups.createGroup(boss, 'Ops Team'));
    expect(ops).toMatchObject({ displayName: 'Ops Team', members: [], source: 'admin' });
    expect((await peer.getGroupByName('ops team'))?.id).toBe(ops.id);
    expect(await groups.listGroups()).toEqual([
      { id: ops.id, name: 'Ops Team', source: 'admin', members: 0, editable: true },
    ]);
    expect(events).toEqual([{ event: 'admin.create_group', subject: 'Ops Team', facts: {} }]);
  });

  it.each(names.refused)('refuses the group name $why', async ({ name }) => {
    const { store, clock } = await kind.open();
    const { groups, events } = harness(store, clock);
    const boss = await person(store, 'boss@example.com');
    const result = await groups.createGroup(boss, name);
    expect(result).toMatchObject({ ok: false, reason: 'invalid_name' });
    const ok = created(await groups.createGroup(boss, 'fine'));
    expect(await groups.renameGroup(boss, ok.id, name)).toMatchObject({ reason: 'invalid_name' });
    expect(
      (await store.listGroups({ offset: 0, limit: 10 })).groups.map((g) => g.displayName),
    ).toEqual(['fine']);
    expect(events.map((e) => e.event)).toEqual(['admin.create_group']);
  });

  it.each(names.accepted)('accepts the group name $stored', async ({ name, stored }) => {
    const { store, clock } = await kind.open();
    const { groups } = harness(store, clock);
    const boss = await person(store, 'boss@example.com');
    expect(created(await groups.createGroup(boss, name)).displayName).toBe(stored);
    expect((await store.getGroupByName(stored))?.displayName).toBe(stored);
  });

  it('keeps names unique ignoring case: against panel groups, SCIM groups and sign-in claims', async () => {
    const { store, clock } = await kind.open();
    const { groups, scim } = harness(store, clock);
    const boss = await person(store, 'boss@example.com');
    await person(store, 'kim@example.com', ['VPN-Users']);
    const admins = created(await groups.createGroup(boss, 'admins'));
    await scim.groups.create({ schemas: [GROUP], displayName: 'Okta Staff' }, all, null);
    const table: [string, GroupRefusal | { ok: true }][] = [
      ['ADMINS', { ok: false, reason: 'name_taken', source: 'admin' }],
      ['okta staff', { ok: false, reason: 'name_taken', source: 'scim' }],
      ['vpn-users', { ok: false, reason: 'name_taken', source: 'oidc' }],
      ['vpn', { ok: true }],
    ];
    for (const [name, expected] of table) {
      expect(await groups.createGroup(boss, name), name).toMatchObject(expected);
    }
    // Renames follow the same rules; a case-only rename of its own name is fine.
    expect(await groups.renameGroup(boss, admins.id, 'Okta STAFF')).toMatchObject({
      reason: 'name_taken',
      source: 'scim',
    });
    expect(await groups.renameGroup(boss, admins.id, 'VPN-users')).toMatchObject({
      reason: 'name_taken',
      source: 'oidc',
    });
    expect(await groups.renameGroup(boss, admins.id, 'Admins')).toMatchObject({ ok: true });
    expect((await store.getGroup(admins.id))?.displayName).toBe('Admins');
  });

  it('adds and removes members: mirrored into User.groups, other groups kept, audited on the user', async () => {
    const { store, peer, clock } = await kind.open();
    const { groups, events } = harness(store, clock);
    const boss = await person(store, 'boss@example.com');
    const kim = await person(store, 'kim@example.com', ['from-idp']);
    const ops = created(await groups.createGroup(boss, 'ops'));
    expect(await groups.addMember(boss, ops.id, kim.id)).toMatchObject({ ok: true, changed: true });
    expect(await groupsOf(peer, kim)).toEqual(['from-idp', 'ops']);
    expect(await groups.addMember(boss, ops.id, kim.id)).toMatchObject({
      ok: true,
      changed: false,
    });
    expect((await peer.getGroup(ops.id))?.members).toEqual([kim.id]);
    expect(await groups.addMember(boss, ops.id, 'nobody')).toEqual({
      ok: false,
      reason: 'no_such_user',
    });
    expect(await groups.addMember(boss, 'no-group', kim.id)).toEqual({
      ok: false,
      reason: 'not_found',
    });
    expect(await groups.groupsOfUser(kim.id)).toEqual([
      { id: null, name: 'from-idp', source: 'oidc', editable: false },
      { id: ops.id, name: 'ops', source: 'admin', editable: true },
    ]);
    expect(await groups.removeMember(boss, ops.id, kim.id)).toMatchObject({ changed: true });
    expect(await groupsOf(peer, kim)).toEqual(['from-idp']);
    expect(await groups.removeMember(boss, ops.id, kim.id)).toMatchObject({ changed: false });
    expect(events.filter((e) => e.subject === 'kim@example.com')).toEqual([
      {
        event: 'admin.add_to_group',
        subject: 'kim@example.com',
        facts: { group: 'ops', group_id: ops.id },
      },
      {
        event: 'admin.remove_from_group',
        subject: 'kim@example.com',
        facts: { group: 'ops', group_id: ops.id },
      },
    ]);
  });

  it('renames into and deletes from every member; a claim of another name stays', async () => {
    const { store, peer, clock } = await kind.open();
    const { groups, events } = harness(store, clock);
    const boss = await person(store, 'boss@example.com');
    const kim = await person(store, 'kim@example.com', ['from-idp']);
    const amy = await person(store, 'amy@example.com');
    const ops = created(await groups.createGroup(boss, 'ops'));
    await groups.addMember(boss, ops.id, kim.id);
    await groups.addMember(boss, ops.id, amy.id);
    expect(await groups.renameGroup(boss, ops.id, 'operations')).toMatchObject({ changed: true });
    expect(await groupsOf(peer, kim)).toEqual(['from-idp', 'operations']);
    expect(await groupsOf(peer, amy)).toEqual(['operations']);
    expect(await groups.renameGroup(boss, ops.id, ' operations ')).toMatchObject({
      ok: true,
      changed: false,
    });
    expect(await groups.deleteGroup(boss, ops.id)).toEqual({
      ok: true,
      name: 'operations',
      members: 2,
    });
    expect(await groupsOf(peer, kim)).toEqual(['from-idp']);
    expect(await groupsOf(peer, amy)).toEqual([]);
    expect(await peer.getGroupByName('operations')).toBeNull();
    expect(await groups.deleteGroup(boss, ops.id)).toEqual({ ok: false, reason: 'not_found' });
    expect(events.map((e) => e.event).slice(-2)).toEqual([
      'admin.rename_group',
      'admin.delete_group',
    ]);
    expect(events.find((e) => e.event === 'admin.rename_group')?.facts).toEqual({
      renamed_from: 'ops',
      members: 2,
    });
  });

  it('shows SCIM and claim groups read-only with their source, and refuses every change to them', async () => {
    const { store, clock } = await kind.open();
    const { groups, scim, events } = harness(store, clock);
    const boss = await person(store, 'boss@example.com');
    const kim = await person(store, 'kim@example.com', ['from-idp']);
    const amy = await person(store, 'amy@example.com', ['from-idp']);
    const made = await scim.groups.create(
      { schemas: [GROUP], displayName: 'Okta Staff', members: [{ value: kim.id }] },
      all,
      null,
    );
    const staffId = made.resource.id as string;
    const mine = created(await groups.createGroup(boss, 'panel'));
    expect(await groups.listGroups()).toEqual([
      { id: null, name: 'from-idp', source: 'oidc', members: 2, editable: false },
      { id: staffId, name: 'Okta Staff', source: 'scim', members: 1, editable: false },
      { id: mine.id, name: 'panel', source: 'admin', members: 0, editable: true },
    ]);
    const readOnly = { ok: false, reason: 'read_only', source: 'scim' };
    expect(await groups.renameGroup(boss, staffId, 'mine now')).toEqual(readOnly);
    expect(await groups.addMember(boss, staffId, amy.id)).toEqual(readOnly);
    expect(await groups.removeMember(boss, staffId, kim.id)).toEqual(readOnly);
    expect(await groups.deleteGroup(boss, staffId)).toEqual(readOnly);
    expect(await store.getGroup(staffId)).toMatchObject({
      displayName: 'Okta Staff',
      members: [kim.id],
    });
    expect(await groupsOf(store, kim)).toEqual(['Okta Staff', 'from-idp']);
    expect(events.filter((e) => e.event.startsWith('admin.')).map((e) => e.event)).toEqual([
      'admin.create_group',
    ]);
  });

  it('SCIM cannot take over a panel group: each attempt is refused and leaves it unchanged', async () => {
    const { store, clock } = await kind.open();
    const { groups, scim } = harness(store, clock);
    const boss = await person(store, 'boss@example.com');
    const kim = await person(store, 'kim@example.com');
    const amy = await person(store, 'amy@example.com');
    const panel = created(await groups.createGroup(boss, 'admins'));
    await groups.addMember(boss, panel.id, kim.id);
    const before = await store.getGroup(panel.id);
    const id = panel.id;
    const table: [string, () => Promise<unknown>, string][] = [
      [
        'POST same name',
        () => scim.groups.create({ schemas: [GROUP], displayName: 'admins' }, all, null),
        '409 uniqueness',
      ],
      [
        'POST other case',
        () => scim.groups.create({ schemas: [GROUP], displayName: 'ADMINS' }, all, null),
        '409 uniqueness',
      ],
      [
        'PUT members',
        () =>
          scim.groups.replace(
            id,
            { schemas: [GROUP], displayName: 'admins', members: [{ value: amy.id }] },
            all,
            null,
          ),
        '400 mutability',
      ],
      [
        'PATCH add member',
        () =>
          scim.groups.patch(
            id,
            {
              schemas: [PATCH_OP],
              Operations: [{ op: 'add', path: 'members', value: [{ value: amy.id }] }],
            },
            all,
            null,
          ),
        '400 mutability',
      ],
      [
        'PATCH remove members',
        () =>
          scim.groups.patch(
            id,
            { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members' }] },
            all,
            null,
          ),
        '400 mutability',
      ],
      [
        'PATCH rename',
        () =>
          scim.groups.patch(
            id,
            {
              schemas: [PATCH_OP],
              Operations: [{ op: 'replace', path: 'displayName', value: 'idp admins' }],
            },
            all,
            null,
          ),
        '400 mutability',
      ],
      ['DELETE', () => scim.groups.remove(id, null), '400 mutability'],
    ];
    for (const [what, run, expected] of table) {
      expect(await scimRefusal(run), what).toBe(expected);
      expect(await store.getGroup(id), what).toEqual(before);
      expect(await groupsOf(store, kim), what).toEqual(['admins']);
      expect(await groupsOf(store, amy), what).toEqual([]);
    }
    // Reading it is fine: the IdP sees what exists.
    expect((await scim.groups.get(id, all)).displayName).toBe('admins');
    // A SCIM user deletion still takes the user out of the panel group.
    await scim.users.remove(kim.id, null);
    expect((await store.getGroup(id))?.members).toEqual([]);
    expect((await store.getGroup(id))?.source).toBe('admin');
  });

  it('never lets an admin take away their own admin rights through a group', async () => {
    const { store, clock } = await kind.open();
    const { groups } = harness(store, clock, ['admins']);
    const boss = await person(store, 'boss@example.com');
    const lee = await person(store, 'lee@example.com');
    const admins = created(await groups.createGroup(boss, 'admins'));
    await groups.addMember(boss, admins.id, lee.id);
    const leeNow = (await store.getUser(lee.id)) as User;
    expect(leeNow.groups).toEqual(['admins']);
    const own = { ok: false, reason: 'own_admin' };
    expect(await groups.removeMember(leeNow, admins.id, lee.id)).toEqual(own);
    expect(await groups.renameGroup(leeNow, admins.id, 'former admins')).toEqual(own);
    expect(await groups.deleteGroup(leeNow, admins.id)).toEqual(own);
    expect((await store.getGroup(admins.id))?.members).toEqual([lee.id]);
    // boss is an admin by email: they may take lee out.
    expect(await groups.removeMember(boss, admins.id, lee.id)).toMatchObject({ changed: true });
  });

  it('loses no membership change when two instances write one group at once', async () => {
    const { store, peer, clock } = await kind.open();
    const here = harness(store, clock).groups;
    const there = harness(peer, clock).groups;
    const boss = await person(store, 'boss@example.com');
    const ops = created(await here.createGroup(boss, 'ops'));
    const people = await Promise.all(
      Array.from({ length: 8 }, (_, i) => person(store, `p${i}@example.com`)),
    );
    const results = await Promise.all(
      people.map((p, i) => (i % 2 ? there : here).addMember(boss, ops.id, p.id)),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    expect([...((await store.getGroup(ops.id))?.members ?? [])].sort()).toEqual(
      people.map((p) => p.id).sort(),
    );
    for (const p of people) expect(await groupsOf(peer, p)).toEqual(['ops']);
    // A delete racing adds still takes the name from everyone who ends up holding it.
    const late = await person(store, 'late@example.com');
    await Promise.all([there.deleteGroup(boss, ops.id), here.addMember(boss, ops.id, late.id)]);
    expect(await store.getGroup(ops.id)).toBeNull();
    for (const p of [...people, late]) expect(await groupsOf(peer, p)).toEqual([]);
  });
});

describe('a group change reaches the checks of every instance within 1 s (real Redis)', () => {
  const redisKind = kinds.find((k) => k.name === 'redis');
  const stores = new OpenStores();
  beforeAll(() => redisKind?.setup());
  afterAll(async () => {
    await stores.closeAll();
    await redisKind?.teardown();
  });

  async function instance(prefix: string) {
    const server = redisKind?.server();
    if (!server) throw new Error('redis-server was not started');
    // The real clock: this test measures time as it passes.
    const store = stores.add(
      new RedisStore({
        url: server.url,
        sentinel: null,
        cluster: null,
        keyPrefix: prefix,
        clock: systemClock,
        commandTimeoutMs: 5000,
      }),
    );
    await store.waitUntilReady(10_000);
    const tokens = await SessionTokens.create([Buffer.alloc(32, 9)]);
    const sessions = new SessionService(store, tokens, systemClock, {
      lifetimeMs: 3_600_000,
      idleTimeoutMs: null,
      cacheTtlMs: 1000,
      cacheMaxEntries: 100,
    });
    const users = new UserService(store, systemClock, { emails: ['boss@example.com'], groups: [] });
    const logger = pino({ level: 'silent' });
    const admin = new AdminService({
      store,
      sessions,
      users,
      loginLinks: new LoginLinks(
        store,
        systemClock,
        [Buffer.alloc(32, 9)],
        600_000,
        'https://a.test',
      ),
      audit: new AuditLog(store, systemClock, logger),
      clock: systemClock,
    });
    return { store, sessions, admin };
  }

  it('adding and removing a member on one instance is seen by a check on the other', async () => {
    const prefix = `admin-groups-live:${randomBytes(6).toString('hex')}:`;
    const a = await instance(prefix);
    const b = await instance(prefix);
    const boss = await person(a.store, 'boss@example.com');
    const kim = await person(a.store, 'kim@example.com');
    const { cookie } = await b.sessions.create(kim, {
      ip: '127.0.0.1',
      userAgent: 't',
      method: 'magic_link',
    });
    const groupsSeen = async () => {
      const lookup = await b.sessions.resolve(cookie);
      if (lookup.kind !== 'valid') throw new Error(lookup.reason);
      return lookup.live.identity.groups;
    };
    // Instance b has the session cached: its checks answer from memory from now on.
    expect(await groupsSeen()).toEqual([]);
    const ops = a.admin.groups;
    const made = await ops.createGroup(boss, 'ops');
    if (!made.ok) throw new Error(made.reason);

    const timeToSee = async (change: () => Promise<unknown>, wanted: string[]) => {
      await change();
      const changed = Date.now();
      for (;;) {
        if (JSON.stringify(await groupsSeen()) === JSON.stringify(wanted))
          return Date.now() - changed;
        if (Date.now() - changed > 3000) throw new Error('never seen');
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const added = await timeToSee(() => ops.addMember(boss, made.group.id, kim.id), ['ops']);
    const renamed = await timeToSee(
      () => ops.renameGroup(boss, made.group.id, 'operations'),
      ['operations'],
    );
    const removed = await timeToSee(() => ops.removeMember(boss, made.group.id, kim.id), []);
    for (const ms of [added, renamed, removed]) expect(ms).toBeLessThanOrEqual(1000 + 50);
  });
});
