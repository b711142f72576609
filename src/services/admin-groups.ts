import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { checkGroupName } from '../core/group-name.js';
import {
  type Group,
  type GroupDirectory,
  GroupNameTakenError,
  GroupVersionConflictError,
  groupSource,
} from '../ports/groups.js';
import type { User, UserDirectory } from '../ports/users.js';
import type {
  AdminAction,
  AuditEvent,
  AuditFacts,
  AuditParty,
  AuditRecord,
  AuditSource,
} from './audit.js';
import { mirrorMembership } from './group-mirror.js';

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

/** Why a group change was not made; nothing was written. */
export type GroupRefusal =
  | { ok: false; reason: 'invalid_name'; message: string }
  | { ok: false; reason: 'name_taken'; source: GroupOrigin }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'read_only'; source: GroupOrigin }
  | { ok: false; reason: 'no_such_user' }
  /** The change would take the acting admin's own admin rights (given by `admin.groups`). */
  | { ok: false; reason: 'own_admin' }
  /** Other writes kept winning the compare-and-set; try again. */
  | { ok: false; reason: 'busy' };

/** `changed` false: the group already was so (same name, already a member, not a member). */
export type GroupChange = { ok: true; group: Group; changed: boolean } | GroupRefusal;
export type GroupDeletion = { ok: true; name: string; members: number } | GroupRefusal;

export interface AdminGroupsDeps {
  store: UserDirectory & GroupDirectory;
  /** Drops this instance's cached sessions of a user; other instances re-read within 1 s. */
  sessions: { refreshUser(userId: string): Promise<void> };
  audit: { record(event: AuditEvent, who: AuditRecord): Promise<void> };
  clock: Clock;
  /** `admin.emails` / `admin.groups` / the admin flag (UserService.isAdmin). */
  isAdmin(user: User): boolean;
  /** Jitter for the retry backoff; `Math.random` unless a test injects one. */
  random?: () => number;
}

/** Read-modify-write attempts on one group before answering `busy`. */
const WRITE_TRIES = 10;
const PAGE = 500;

const lower = (name: string) => name.toLowerCase();
const refuse = <R extends GroupRefusal['reason']>(
  reason: R,
  extra: Omit<Extract<GroupRefusal, { reason: R }>, 'ok' | 'reason'>,
) => ({ ok: false, reason, ...extra }) as Extract<GroupRefusal, { reason: R }>;
const isRefusal = (value: unknown): value is GroupRefusal =>
  typeof value === 'object' && value !== null && 'ok' in value && value.ok === false;

/** What a refusal means, in words for the admin panel. */
export function groupRefusalText(refusal: GroupRefusal): string {
  switch (refusal.reason) {
    case 'invalid_name':
      return refusal.message;
    case 'name_taken':
      return refusal.source === 'oidc'
        ? 'Users already get a group of that name from the identity provider; choose another name.'
        : refusal.source === 'scim'
          ? 'A group of that name is provisioned over SCIM; choose another name.'
          : 'A group of that name exists (names are compared ignoring case).';
    case 'not_found':
      return 'That group no longer exists.';
    case 'read_only':
      return refusal.source === 'scim'
        ? 'That group is provisioned over SCIM: change it at your identity provider.'
        : 'That group comes from sign-in claims: change it at your identity provider.';
    case 'no_such_user':
      return 'That user no longer exists.';
    case 'own_admin':
      return 'That would take away your own admin rights (admin.groups); ask another admin.';
    case 'busy':
      return 'The group is being changed by someone else right now. Try again.';
  }
}

/**
 * Groups in the admin panel: list every group with where it comes from, and create, rename,
 * delete and fill groups made here. Every change is written with compare-and-set on the
 * group's version (retried on a conflict, as SCIM does), mirrored into members' `User.groups`
 * (what checks read; cached sessions re-read it within 1 s on every instance), and audited as
 * `admin.*`. Expected failures are answered as `GroupRefusal`, never thrown.
 */
export class AdminGroups {
  constructor(private readonly deps: AdminGroupsDeps) {}

  private async *allUsers(): AsyncGenerator<User> {
    for (let offset = 0; ; offset += PAGE) {
      const page = await this.deps.store.listUsers({ offset, limit: PAGE });
      yield* page.users;
      if (page.users.length < PAGE || offset + PAGE >= page.total) return;
    }
  }

  private async allGroups(): Promise<Group[]> {
    const out: Group[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const page = await this.deps.store.listGroups({ offset, limit: PAGE });
      out.push(...page.groups);
      if (page.groups.length < PAGE || offset + PAGE >= page.total) return out;
    }
  }

  private row(group: Group): GroupRow {
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
  async listGroups(): Promise<GroupRow[]> {
    const records = await this.allGroups();
    const stored = new Set(records.map((g) => g.displayName));
    const claimed = new Map<string, number>();
    for await (const user of this.allUsers())
      for (const name of user.groups)
        if (!stored.has(name)) claimed.set(name, (claimed.get(name) ?? 0) + 1);
    const rows = records.map((g) => this.row(g));
    for (const [name, members] of claimed)
      rows.push({ id: null, name, source: 'oidc', members, editable: false });
    return rows.sort((a, b) => {
      const x = lower(a.name);
      const y = lower(b.name);
      return x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
  }

  /** A stored group with its members; null when there is no such record. */
  async groupDetail(id: string): Promise<GroupDetail | null> {
    const group = await this.deps.store.getGroup(id);
    if (!group) return null;
    const users = await Promise.all(group.members.map((m) => this.deps.store.getUser(m)));
    return {
      row: this.row(group),
      group,
      members: users.filter((u): u is User => u !== null),
    };
  }

  /** The groups a user has (what checks see), each with its source; null for no such user. */
  async groupsOfUser(userId: string): Promise<GroupMembership[] | null> {
    const user = await this.deps.store.getUser(userId);
    if (!user) return null;
    return Promise.all(
      user.groups.map(async (name): Promise<GroupMembership> => {
        const group = await this.deps.store.getGroupByName(name);
        if (group && group.displayName === name && group.members.includes(user.id)) {
          const { id, source, editable } = this.row(group);
          return { id, name, source, editable };
        }
        return { id: null, name, source: 'oidc', editable: false };
      }),
    );
  }

  async createGroup(
    actor: User,
    rawName: string,
    source: AuditSource | null = null,
  ): Promise<GroupChange> {
    const checked = checkGroupName(rawName);
    if (!checked.ok) return refuse('invalid_name', { message: checked.message });
    const { name } = checked;
    const taken = await this.nameTaken(name, null);
    if (taken) return taken;
    const now = this.deps.clock.now();
    const group: Group = {
      id: randomUUID(),
      displayName: name,
      members: [],
      createdAt: now,
      updatedAt: now,
      version: 0,
      source: 'admin',
    };
    const stored = await this.deps.store.createGroup(group);
    // Another instance (or SCIM) claimed the name between the check and the write.
    if (stored.id !== group.id) return refuse('name_taken', { source: groupSource(stored) });
    await this.log(actor, 'create_group', { id: group.id, label: name }, source);
    return { ok: true, group: stored, changed: true };
  }

  async renameGroup(
    actor: User,
    id: string,
    rawName: string,
    source: AuditSource | null = null,
  ): Promise<GroupChange> {
    const checked = checkGroupName(rawName);
    if (!checked.ok) return refuse('invalid_name', { message: checked.message });
    const { name } = checked;
    const written = await this.retry(async () => {
      const group = await this.editable(id);
      if (isRefusal(group)) return group;
      if (group.displayName === name) return { before: group, after: group };
      const taken = await this.nameTaken(name, group);
      if (taken) return taken;
      if (this.losesAdmin(actor, group, name)) return refuse('own_admin', {});
      try {
        const after = await this.deps.store.updateGroup({
          ...group,
          displayName: name,
          updatedAt: this.deps.clock.now(),
        });
        return { before: group, after };
      } catch (error) {
        if (!(error instanceof GroupNameTakenError)) throw error;
        const owner = await this.deps.store.getGroupByName(name);
        return refuse('name_taken', { source: owner ? groupSource(owner) : 'admin' });
      }
    });
    if (isRefusal(written)) return written;
    const { before, after } = written;
    if (before === after) return { ok: true, group: after, changed: false };
    await this.mirror(before, after);
    await this.log(actor, 'rename_group', { id, label: name }, source, {
      renamed_from: before.displayName,
      members: after.members.length,
    });
    return { ok: true, group: after, changed: true };
  }

  /**
   * Deletes with compare-and-delete on the version: a member added on another instance between
   * the read and the delete makes it read again, so the mirror removes the name from everyone.
   */
  async deleteGroup(
    actor: User,
    id: string,
    source: AuditSource | null = null,
  ): Promise<GroupDeletion> {
    const deleted = await this.retry(async () => {
      const group = await this.editable(id);
      if (isRefusal(group)) return group;
      if (this.losesAdmin(actor, group, null)) return refuse('own_admin', {});
      await this.deps.store.deleteGroup(group.id, group.version);
      return group;
    });
    if (isRefusal(deleted)) return deleted;
    await this.mirror(deleted, null);
    await this.log(actor, 'delete_group', { id, label: deleted.displayName }, source, {
      members: deleted.members.length,
    });
    return { ok: true, name: deleted.displayName, members: deleted.members.length };
  }

  addMember(
    actor: User,
    groupId: string,
    userId: string,
    source: AuditSource | null = null,
  ): Promise<GroupChange> {
    return this.changeMember(actor, groupId, userId, true, source);
  }

  removeMember(
    actor: User,
    groupId: string,
    userId: string,
    source: AuditSource | null = null,
  ): Promise<GroupChange> {
    return this.changeMember(actor, groupId, userId, false, source);
  }

  private async changeMember(
    actor: User,
    groupId: string,
    userId: string,
    add: boolean,
    source: AuditSource | null,
  ): Promise<GroupChange> {
    const user = await this.deps.store.getUser(userId);
    if (!user) return refuse('no_such_user', {});
    const written = await this.retry(async () => {
      const group = await this.editable(groupId);
      if (isRefusal(group)) return group;
      if (group.members.includes(userId) === add) return { before: group, after: group };
      if (!add && userId === actor.id && this.losesAdmin(actor, group, null))
        return refuse('own_admin', {});
      const members = add
        ? [...group.members, userId]
        : group.members.filter((member) => member !== userId);
      const after = await this.deps.store.updateGroup({
        ...group,
        members,
        updatedAt: this.deps.clock.now(),
      });
      return { before: group, after };
    });
    if (isRefusal(written)) return written;
    const { before, after } = written;
    if (before === after) return { ok: true, group: after, changed: false };
    await this.mirror(before, after);
    // The user is the subject, so the change shows in their trail on the panel.
    await this.log(actor, add ? 'add_to_group' : 'remove_from_group', user, source, {
      group: after.displayName,
      group_id: after.id,
    });
    return { ok: true, group: after, changed: true };
  }

  /**
   * A mirror that keeps changing (others writing the group all along) is left to the last of
   * those writers' own mirrors, which end on the final state.
   */
  private async mirror(before: Group | null, after: Group | null): Promise<void> {
    const { store, sessions } = this.deps;
    await mirrorMembership({ users: store, groups: store, sessions }, before, after);
  }

  /** The group, or why the panel may not change it. */
  private async editable(id: string): Promise<Group | GroupRefusal> {
    const group = await this.deps.store.getGroup(id);
    if (!group) return refuse('not_found', {});
    const source = groupSource(group);
    if (source !== 'admin') return refuse('read_only', { source });
    return group;
  }

  /**
   * Names are unique ignoring case across stored groups (SCIM's included) and the names users
   * bring from sign-in claims: an admin group that shared a claim's name would be rewritten by
   * the member's next sign-in, and its rename or delete would strip the claim from others
   * (the mirror matches names ignoring case). `self` is the group being renamed.
   */
  private async nameTaken(name: string, self: Group | null): Promise<GroupRefusal | null> {
    const owner = await this.deps.store.getGroupByName(name);
    if (owner && owner.id !== self?.id) return refuse('name_taken', { source: groupSource(owner) });
    const wanted = lower(name);
    const own = self ? lower(self.displayName) : null;
    for await (const user of this.allUsers())
      if (user.groups.some((g) => lower(g) === wanted && lower(g) !== own))
        return refuse('name_taken', { source: 'oidc' });
    return null;
  }

  /**
   * Whether the actor, a member of `group`, stops being an admin when the group's name
   * becomes `next` (null: they leave it or it goes): an admin panel must not lock out the one
   * using it, as "Remove admin" refuses the acting admin too.
   */
  private losesAdmin(actor: User, group: Group, next: string | null): boolean {
    if (!group.members.includes(actor.id) || !this.deps.isAdmin(actor)) return false;
    const others = actor.groups.filter((g) => lower(g) !== lower(group.displayName));
    return !this.deps.isAdmin({ ...actor, groups: next === null ? others : [...others, next] });
  }

  /**
   * Runs a read-change-write again while another writer changed the group between its read
   * and its compare-and-set, with a small random pause so two retrying instances fall out of
   * step; `busy` after WRITE_TRIES conflicts.
   */
  private async retry<T>(task: () => Promise<T>): Promise<T | GroupRefusal> {
    const random = this.deps.random ?? Math.random;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await task();
      } catch (error) {
        if (!(error instanceof GroupVersionConflictError)) throw error;
        if (attempt >= WRITE_TRIES) return refuse('busy', {});
        await new Promise((resolve) => setTimeout(resolve, random() * 5 * attempt));
      }
    }
  }

  private async log(
    actor: User,
    action: AdminAction,
    subject: AuditParty,
    source: AuditSource | null,
    facts: AuditFacts = {},
  ): Promise<void> {
    await this.deps.audit.record({ event: `admin.${action}`, facts }, { actor, subject, source });
  }
}
