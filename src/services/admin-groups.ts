import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { checkGroupName } from '../core/group-name.js';
import {
  type Group,
  type GroupDirectory,
  GroupNameTakenError,
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
import { type GroupRefusal, isRefusal, refuse } from './group-refusal.js';
import {
  allUsers,
  type GroupDetail,
  type GroupMembership,
  type GroupRow,
  listGroupRows,
  lower,
  readGroupDetail,
  readGroupsOfUser,
} from './group-rows.js';
import { retryOnVersionConflict } from './retry-on-version-conflict.js';

// The panel's views and routes import these from here.
export { type GroupRefusal, groupRefusalText } from './group-refusal.js';
export type { GroupDetail, GroupMembership, GroupOrigin, GroupRow } from './group-rows.js';

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
/** The name as the group would be called, or why it cannot be. */
function checkedName(raw: string): string | GroupRefusal {
  const checked = checkGroupName(raw);
  return checked.ok ? checked.name : refuse('invalid_name', { message: checked.message });
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

  /** Every group, records and claim-only names, ordered by name ignoring case. */
  listGroups(): Promise<GroupRow[]> {
    return listGroupRows(this.deps.store);
  }

  /** A stored group with its members; null when there is no such record. */
  groupDetail(id: string): Promise<GroupDetail | null> {
    return readGroupDetail(this.deps.store, id);
  }

  /** The groups a user has (what checks see), each with its source; null for no such user. */
  groupsOfUser(userId: string): Promise<GroupMembership[] | null> {
    return readGroupsOfUser(this.deps.store, userId);
  }

  async createGroup(
    actor: User,
    rawName: string,
    source: AuditSource | null = null,
  ): Promise<GroupChange> {
    const name = checkedName(rawName);
    if (isRefusal(name)) return name;
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
    const name = checkedName(rawName);
    if (isRefusal(name)) return name;
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
    for await (const user of allUsers(this.deps.store))
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
  private retry<T>(task: () => Promise<T>): Promise<T | GroupRefusal> {
    return retryOnVersionConflict(task, {
      tries: WRITE_TRIES,
      random: this.deps.random,
      giveUp: () => refuse('busy', {}),
    });
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
