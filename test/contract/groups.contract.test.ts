import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Group,
  GroupNameTakenError,
  GroupVersionConflictError,
  groupSource,
  type User,
  type UserInput,
} from '../../src/ports/store.js';
import { storeKinds } from '../helpers/store-kinds.js';

/**
 * Groups and user deletion (SCIM) for every store: the same file runs against the memory store
 * and a real redis-server. "peer" is a second handle on the same state (another instance).
 */
const kinds = storeKinds('groups');

let counter = 0;
function group(displayName: string, members: string[] = []): Group {
  counter += 1;
  return {
    id: `group-${counter}-${randomBytes(4).toString('hex')}`,
    displayName,
    members,
    createdAt: 1000,
    updatedAt: 1000,
    version: 0,
  };
}

function user(email: string): UserInput {
  counter += 1;
  return {
    id: `user-${counter}-${randomBytes(4).toString('hex')}`,
    email,
    name: email,
    groups: [],
    active: true,
    verified: false,
    createdAt: 1000,
    lastLoginAt: null,
  };
}

describe.each(kinds)('$name store: groups and user deletion', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(async () => {
    await kind.closeOpened();
  });

  it('stores a group and finds it by id and by name, case-insensitively', async () => {
    const { store, peer } = await kind.open();
    const ops = group('Ops Team', ['u1', 'u2']);
    expect(await store.createGroup(ops)).toEqual(ops);
    expect(await peer.getGroup(ops.id)).toEqual(ops);
    expect(await peer.getGroupByName('ops team')).toEqual(ops);
    expect(await peer.getGroupByName('OPS TEAM')).toEqual(ops);
    expect(await store.getGroup('nope')).toBeNull();
    expect(await store.getGroupByName('nope')).toBeNull();
  });

  it('returns the existing group instead of creating a second one with the same name', async () => {
    const { store, peer } = await kind.open();
    const first = group('admins');
    await store.createGroup(first);
    const second = group('ADMINS');
    expect((await peer.createGroup(second)).id).toBe(first.id);
    expect(await store.getGroup(second.id)).toBeNull();
    expect((await store.listGroups({ offset: 0, limit: 10 })).total).toBe(1);
  });

  it('of two racing creators of one name, exactly one group is stored', async () => {
    const { store, peer } = await kind.open();
    const a = group('racers');
    const b = group('racers');
    const [ra, rb] = await Promise.all([store.createGroup(a), peer.createGroup(b)]);
    expect(ra.id).toBe(rb.id);
    expect((await store.listGroups({ offset: 0, limit: 10 })).groups.map((g) => g.id)).toEqual([
      ra.id,
    ]);
  });

  it('renames a group, freeing the old name; refuses a name another group has', async () => {
    const { store, peer } = await kind.open();
    const ops = group('ops');
    const dev = group('dev');
    await store.createGroup(ops);
    await store.createGroup(dev);
    await store.updateGroup({ ...ops, displayName: 'operations', members: ['u9'] });
    expect(await peer.getGroupByName('ops')).toBeNull();
    expect(await peer.getGroupByName('Operations')).toMatchObject({ id: ops.id, members: ['u9'] });
    await expect(peer.updateGroup({ ...dev, displayName: 'OPERATIONS' })).rejects.toBeInstanceOf(
      GroupNameTakenError,
    );
    expect((await store.getGroup(dev.id))?.displayName).toBe('dev');
    // Case-only renames keep the group's own name.
    await store.updateGroup({ ...dev, displayName: 'Dev' });
    expect((await peer.getGroupByName('dev'))?.displayName).toBe('Dev');
    const names = (await store.listGroups({ offset: 0, limit: 10 })).groups.map(
      (g) => g.displayName,
    );
    expect(names).toEqual(['Dev', 'operations']);
  });

  it('updates a group only from the version stored: a stale writer is refused, a fresh one wins', async () => {
    const { store, peer } = await kind.open();
    const ops = group('ops', ['u1']);
    await store.createGroup(ops);
    const read1 = (await store.getGroup(ops.id)) as Group;
    const read2 = (await peer.getGroup(ops.id)) as Group;
    const first = await store.updateGroup({ ...read1, members: ['u1', 'u2'] });
    expect(first.version).toBe(read1.version + 1);
    // The peer read the same version: its write would drop u2, so it is refused.
    await expect(
      peer.updateGroup({ ...read2, displayName: 'renamed', members: ['u1', 'u3'] }),
    ).rejects.toBeInstanceOf(GroupVersionConflictError);
    expect(await store.getGroup(ops.id)).toEqual(first);
    // The refused rename left no claim on its name behind.
    expect(await store.getGroupByName('renamed')).toBeNull();
    const fresh = (await peer.getGroup(ops.id)) as Group;
    const second = await peer.updateGroup({ ...fresh, members: [...fresh.members, 'u3'] });
    expect(second.version).toBe(first.version + 1);
    expect((await store.getGroup(ops.id))?.members).toEqual(['u1', 'u2', 'u3']);
    // A group deleted meanwhile is a conflict too (the retry then finds it gone).
    await store.deleteGroup(ops.id);
    await expect(peer.updateGroup(second)).rejects.toBeInstanceOf(GroupVersionConflictError);
    expect(await store.getGroup(ops.id)).toBeNull();
  });

  it('of concurrent writers of one group version, exactly one wins', async () => {
    const { store, peer } = await kind.open();
    const ops = group('ops');
    await store.createGroup(ops);
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? peer : store).updateGroup({ ...ops, members: [`u${i}`] }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await store.getGroup(ops.id))?.version).toBe(1);
  });

  it("changes only a user's groups, never losing a concurrent change", async () => {
    const { store, peer } = await kind.open();
    const kim = await store.createUser(user('kim@example.com'));
    const names = Array.from({ length: 10 }, (_, i) => `g${i}`);
    const results = await Promise.all(
      names.map((name, i) =>
        (i % 2 ? peer : store).updateUserGroups(kim.id, (groups) => [...groups, name]),
      ),
    );
    expect(results.every(Boolean)).toBe(true);
    const stored = (await store.getUser(kim.id)) as User;
    expect([...stored.groups].sort()).toEqual(names);
    expect(stored.email).toBe('kim@example.com');
    expect(await peer.updateUserGroups(kim.id, (groups) => [...groups])).toBe(false);
    expect(await peer.updateUserGroups('nobody', () => ['x'])).toBe(false);
    expect(await store.getUser('nobody')).toBeNull();
  });

  it('deletes a group and its name; deleting twice is harmless', async () => {
    const { store, peer } = await kind.open();
    const ops = group('ops');
    await store.createGroup(ops);
    await peer.deleteGroup(ops.id);
    await peer.deleteGroup(ops.id);
    expect(await store.getGroup(ops.id)).toBeNull();
    expect(await store.getGroupByName('ops')).toBeNull();
    expect(await store.listGroups({ offset: 0, limit: 10 })).toEqual({ groups: [], total: 0 });
    const again = group('ops');
    expect((await store.createGroup(again)).id).toBe(again.id);
  });

  it('pages groups in name order with a total', async () => {
    const { store } = await kind.open();
    for (const name of ['delta', 'Alpha', 'charlie', 'bravo', 'echo'])
      await store.createGroup(group(name));
    const first = await store.listGroups({ offset: 0, limit: 2 });
    expect(first.total).toBe(5);
    expect(first.groups.map((g) => g.displayName)).toEqual(['Alpha', 'bravo']);
    const last = await store.listGroups({ offset: 4, limit: 2 });
    expect(last.groups.map((g) => g.displayName)).toEqual(['echo']);
    expect((await store.listGroups({ offset: 9, limit: 2 })).groups).toEqual([]);
    expect((await store.listGroups({ offset: 0, limit: 0 })).groups).toEqual([]);
  });

  it('deletes a user: the record, the email and the listing entry; the email is free again', async () => {
    const { store, peer } = await kind.open();
    const zoe = await store.createUser(user('zoe@example.com'));
    await store.createUser(user('amy@example.com'));
    await peer.deleteUser(zoe.id);
    await peer.deleteUser(zoe.id);
    expect(await store.getUser(zoe.id)).toBeNull();
    expect(await store.getUserByEmail('zoe@example.com')).toBeNull();
    const page = await store.listUsers({ offset: 0, limit: 10 });
    expect(page.users.map((u) => u.email)).toEqual(['amy@example.com']);
    expect(page.total).toBe(1);
    const again = user('zoe@example.com');
    expect((await store.createUser(again)).id).toBe(again.id);
  });

  it("keeps a group's source through every write; a record without one is SCIM's", async () => {
    const { store, peer } = await kind.open();
    const panel = { ...group('Panel'), source: 'admin' as const };
    const legacy = group('legacy');
    await store.createGroup(panel);
    await store.createGroup(legacy);
    expect((await peer.getGroup(panel.id))?.source).toBe('admin');
    expect((await peer.getGroupByName('panel'))?.source).toBe('admin');
    const renamed = await peer.updateGroup({ ...panel, displayName: 'Panel 2', members: ['u1'] });
    expect((await store.getGroup(panel.id))?.source).toBe('admin');
    expect(renamed.source).toBe('admin');
    const listed = (await store.listGroups({ offset: 0, limit: 10 })).groups;
    expect(listed.map((g) => [g.displayName, groupSource(g)])).toEqual([
      ['legacy', 'scim'],
      ['Panel 2', 'admin'],
    ]);
  });

  it('deletes at a version: a stale delete is refused and changes nothing, a current one deletes', async () => {
    const { store, peer } = await kind.open();
    const ops = group('ops', ['u1']);
    await store.createGroup(ops);
    const read = (await store.getGroup(ops.id)) as Group;
    // Another instance adds a member between the read and the delete.
    const added = await peer.updateGroup({ ...read, members: ['u1', 'u2'] });
    await expect(store.deleteGroup(ops.id, read.version)).rejects.toBeInstanceOf(
      GroupVersionConflictError,
    );
    expect(await peer.getGroup(ops.id)).toEqual(added);
    expect((await peer.getGroupByName('OPS'))?.id).toBe(ops.id);
    await store.deleteGroup(ops.id, added.version);
    expect(await peer.getGroup(ops.id)).toBeNull();
    expect(await peer.getGroupByName('ops')).toBeNull();
    expect((await peer.listGroups({ offset: 0, limit: 10 })).total).toBe(0);
    // Gone is a conflict at a version (the retry then finds it gone), harmless without one.
    await expect(peer.deleteGroup(ops.id, added.version)).rejects.toBeInstanceOf(
      GroupVersionConflictError,
    );
    await peer.deleteGroup(ops.id);
  });

  it('of concurrent versioned deletes and updates of one version, exactly one wins', async () => {
    const { store, peer } = await kind.open();
    const ops = group('ops');
    await store.createGroup(ops);
    const results = await Promise.allSettled([
      store.deleteGroup(ops.id, 0),
      peer.updateGroup({ ...ops, members: ['u1'] }),
      peer.deleteGroup(ops.id, 0),
      store.updateGroup({ ...ops, members: ['u2'] }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const left = await store.getGroup(ops.id);
    if (left) expect(left.version).toBe(1);
    else expect(await store.getGroupByName('ops')).toBeNull();
  });

  it('keeps the SCIM userName of a user', async () => {
    const { store, peer } = await kind.open();
    const u = await store.createUser({ ...user('kim@example.com'), userName: 'Kim_UPN' });
    expect((await peer.getUser(u.id))?.userName).toBe('Kim_UPN');
  });
});
