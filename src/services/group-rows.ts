import { type Group, type GroupDirectory, groupSource } from '../ports/groups.js';
import type { User, UserDirectory } from '../ports/users.js';

/**
 * Where a group comes from. `admin`: made in the admin panel, the only kind it can change.
 * `scim`: provisioned by the IdP. `oidc`: only named in users' sign-in claims (the OIDC groups
 * claim; Google sends none), so it has no record: it lives in `User.groups` alone and the next
 * sign-in rewrites it, which is why the panel cannot edit it.
 */
export type GroupOrigin = 'admin' | 'scim' | 'oidc';

export interface GroupRow {
  /** Null for a group that only appears in sign-in claims. */
  id: string | null;
  name: string;
  source: GroupOrigin;
  members: number;
  /** Whether the panel may rename, delete and change members (only `admin` groups). */
  editable: boolean;
}

/** One of a user's groups, as the user's page shows it. */
export interface GroupMembership {
  id: string | null;
  name: string;
  source: GroupOrigin;
  editable: boolean;
}

export interface GroupDetail {
  row: GroupRow;
  group: Group;
  /** The members that still exist, in the order the record lists them. */
  members: User[];
}

const PAGE = 500;

/** Lower-cased, as group names are compared. */
export const lower = (name: string) => name.toLowerCase();

type Store = UserDirectory & GroupDirectory;

/** Every user, a page at a time. */
export async function* allUsers(store: Pick<UserDirectory, 'listUsers'>): AsyncGenerator<User> {
  for (let offset = 0; ; offset += PAGE) {
    const page = await store.listUsers({ offset, limit: PAGE });
    yield* page.users;
    if (page.users.length < PAGE || offset + PAGE >= page.total) return;
  }
}

async function allGroups(store: Pick<GroupDirectory, 'listGroups'>): Promise<Group[]> {
  const out: Group[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await store.listGroups({ offset, limit: PAGE });
    out.push(...page.groups);
    if (page.groups.length < PAGE || offset + PAGE >= page.total) return out;
  }
}

/** A stored group as the panel lists it. */
export function groupRow(group: Group): GroupRow {
  const source = groupSource(group);
  return {
    id: group.id,
    name: group.displayName,
    source,
    members: group.members.length,
    editable: source === 'admin',
  };
}

/** Every group, records and claim-only names, ordered by name ignoring case. */
export async function listGroupRows(store: Store): Promise<GroupRow[]> {
  const records = await allGroups(store);
  const stored = new Set(records.map((g) => g.displayName));
  const claimed = new Map<string, number>();
  for await (const user of allUsers(store))
    for (const name of user.groups)
      if (!stored.has(name)) claimed.set(name, (claimed.get(name) ?? 0) + 1);
  const rows = records.map(groupRow);
  for (const [name, members] of claimed)
    rows.push({ id: null, name, source: 'oidc', members, editable: false });
  return rows.sort((a, b) => {
    const x = lower(a.name);
    const y = lower(b.name);
    return x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** A stored group with its members; null when there is no such record. */
export async function readGroupDetail(store: Store, id: string): Promise<GroupDetail | null> {
  const group = await store.getGroup(id);
  if (!group) return null;
  const users = await Promise.all(group.members.map((m) => store.getUser(m)));
  return {
    row: groupRow(group),
    group,
    members: users.filter((u): u is User => u !== null),
  };
}

/** The groups a user has (what checks see), each with its source; null for no such user. */
export async function readGroupsOfUser(
  store: Store,
  userId: string,
): Promise<GroupMembership[] | null> {
  const user = await store.getUser(userId);
  if (!user) return null;
  return Promise.all(
    user.groups.map(async (name): Promise<GroupMembership> => {
      const group = await store.getGroupByName(name);
      if (group && group.displayName === name && group.members.includes(user.id)) {
        const { id, source, editable } = groupRow(group);
        return { id, name, source, editable };
      }
      return { id: null, name, source: 'oidc', editable: false };
    }),
  );
}
