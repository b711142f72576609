import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import {
  EmailTakenError,
  type Group,
  GroupNameTakenError,
  type Store,
  type User,
} from '../ports/store.js';
import type { SessionService } from '../services/sessions.js';
import { ScimError } from './errors.js';
import type { GroupFields, UserFields } from './resources.js';

export interface ProvisioningDeps {
  store: Store;
  sessions: SessionService;
  clock: Clock;
  logger: Logger;
}

const taken = (detail: string) => new ScimError(409, detail, 'uniqueness');
const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * What SCIM changes, apart from HTTP. Writes run one at a time on this instance, so a group's
 * member list and its members' `groups` are never read and written back by two requests at once
 * (provisioning clients send few, mostly sequential requests). Every change is audited, like the
 * admin panel's, with `actor: "scim"`.
 */
export class Provisioning {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly audit: Logger;

  constructor(private readonly deps: ProvisioningDeps) {
    this.audit = deps.logger.child({ audit: true });
  }

  /** Runs `task` after every write queued before it. */
  serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  private log(
    event: string,
    target: { id: string; label: string },
    extra: Record<string, unknown> = {},
  ) {
    this.audit.info(
      {
        event: `scim.${event}`,
        actor: 'scim',
        target: target.label,
        target_id: target.id,
        ...extra,
      },
      `scim: ${event} ${target.label}`,
    );
  }

  /** Every user, in email order, a page at a time (filters the store cannot index). */
  async *allUsers(): AsyncGenerator<User> {
    const size = 500;
    for (let offset = 0; ; offset += size) {
      const page = await this.deps.store.listUsers({ offset, limit: size });
      yield* page.users;
      if (page.users.length < size || offset + size >= page.total) return;
    }
  }

  async *allGroups(): AsyncGenerator<Group> {
    const size = 500;
    for (let offset = 0; ; offset += size) {
      const page = await this.deps.store.listGroups({ offset, limit: size });
      yield* page.groups;
      if (page.groups.length < size || offset + size >= page.total) return;
    }
  }

  private async checkUserName(userName: string | undefined, self: string | null): Promise<void> {
    if (userName === undefined) return;
    for await (const other of this.allUsers()) {
      if (other.id !== self && other.userName !== undefined && sameName(other.userName, userName))
        throw taken(`userName ${userName} is taken`);
    }
  }

  /** The SCIM groups the user is a member of. */
  async groupsOf(user: User): Promise<Group[]> {
    const groups = await Promise.all(
      user.groups.map((name) => this.deps.store.getGroupByName(name)),
    );
    return groups.filter((g): g is Group => g?.members.includes(user.id) === true);
  }

  async createUser(fields: UserFields): Promise<User> {
    const { store, clock } = this.deps;
    if (await store.getUserByEmail(fields.email))
      throw taken(`a user with email ${fields.email} exists`);
    await this.checkUserName(fields.userName, null);
    const blank: User = {
      id: randomUUID(),
      email: fields.email,
      name: fields.name,
      groups: [],
      active: fields.active,
      verified: false,
      createdAt: clock.now(),
      lastLoginAt: null,
    };
    const user = withFields(blank, fields);
    const stored = await store.createUser(user);
    if (stored.id !== user.id) throw taken(`a user with email ${fields.email} exists`);
    this.log('create_user', { id: user.id, label: user.email }, { active: user.active });
    return stored;
  }

  /** PUT, and the outcome of a PATCH. Deactivation ends every session of the user. */
  async replaceUser(existing: User, fields: UserFields): Promise<User> {
    const { store, sessions } = this.deps;
    await this.checkUserName(fields.userName, existing.id);
    const next = withFields(existing, fields);
    try {
      await store.updateUser(next);
    } catch (error) {
      if (error instanceof EmailTakenError) throw taken(`a user with email ${next.email} exists`);
      throw error;
    }
    const target = { id: next.id, label: next.email };
    if (existing.active && !next.active) {
      const ended = await sessions.revokeUser(next.id);
      await sessions.refreshUser(next.id);
      this.log('deactivate_user', target, { sessions_ended: ended.length });
    } else {
      await sessions.refreshUser(next.id);
      if (!existing.active && next.active) this.log('activate_user', target);
    }
    const changed = (
      ['email', 'name', 'userName', 'externalId', 'givenName', 'familyName'] as const
    ).filter((key) => existing[key] !== next[key]);
    if (changed.length) this.log('update_user', target, { changed });
    return next;
  }

  /**
   * DELETE removes the user (RFC 7644 §3.6: later requests for it answer 404): sessions end
   * first, the user leaves its SCIM groups, then the record goes. Okta never deletes (it
   * deactivates); Entra ID deletes after its soft-delete period.
   */
  async deleteUser(user: User): Promise<void> {
    const { store, sessions } = this.deps;
    const ended = await sessions.revokeUser(user.id);
    for (const group of await this.groupsOf(user)) {
      await store.updateGroup({
        ...group,
        members: group.members.filter((id) => id !== user.id),
        updatedAt: this.deps.clock.now(),
      });
    }
    await store.deleteUser(user.id);
    await sessions.refreshUser(user.id);
    this.log('delete_user', { id: user.id, label: user.email }, { sessions_ended: ended.length });
  }

  /** Keeps only ids of existing users (a client may name one deleted meanwhile). */
  private async existingUsers(
    ids: readonly string[],
    known: ReadonlySet<string>,
  ): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const chunk = ids.slice(i, i + 100);
      const users = await Promise.all(
        chunk.map((id) =>
          known.has(id) ? Promise.resolve(true) : this.deps.store.getUser(id).then(Boolean),
        ),
      );
      chunk.forEach((id, index) => {
        if (users[index]) out.push(id);
      });
    }
    return out;
  }

  async createGroup(fields: GroupFields): Promise<Group> {
    const { store, clock } = this.deps;
    if (await store.getGroupByName(fields.displayName))
      throw taken(`a group named ${fields.displayName} exists`);
    const now = clock.now();
    const group: Group = {
      id: randomUUID(),
      displayName: fields.displayName,
      members: await this.existingUsers(fields.members, new Set()),
      createdAt: now,
      updatedAt: now,
    };
    if (fields.externalId !== undefined) group.externalId = fields.externalId;
    const stored = await store.createGroup(group);
    if (stored.id !== group.id) throw taken(`a group named ${fields.displayName} exists`);
    await this.syncMembers(null, group);
    this.log(
      'create_group',
      { id: group.id, label: group.displayName },
      { members: group.members.length },
    );
    return group;
  }

  async replaceGroup(existing: Group, fields: GroupFields): Promise<Group> {
    const next: Group = {
      id: existing.id,
      displayName: fields.displayName,
      members: await this.existingUsers(fields.members, new Set(existing.members)),
      createdAt: existing.createdAt,
      updatedAt: this.deps.clock.now(),
    };
    if (fields.externalId !== undefined) next.externalId = fields.externalId;
    try {
      await this.deps.store.updateGroup(next);
    } catch (error) {
      if (error instanceof GroupNameTakenError)
        throw taken(`a group named ${next.displayName} exists`);
      throw error;
    }
    const { added, removed } = await this.syncMembers(existing, next);
    this.log(
      'update_group',
      { id: next.id, label: next.displayName },
      {
        ...(existing.displayName !== next.displayName
          ? { renamed_from: existing.displayName }
          : {}),
        members_added: added,
        members_removed: removed,
      },
    );
    return next;
  }

  async deleteGroup(group: Group): Promise<void> {
    await this.deps.store.deleteGroup(group.id);
    await this.syncMembers(group, null);
    this.log(
      'delete_group',
      { id: group.id, label: group.displayName },
      { members: group.members.length },
    );
  }

  /**
   * Mirrors membership into `User.groups` (by name), which identity headers and `access.rules`
   * read; other groups a user has (from OIDC or the admin panel) stay.
   */
  private async syncMembers(
    before: Group | null,
    after: Group | null,
  ): Promise<{ added: number; removed: number }> {
    const { store, sessions } = this.deps;
    const old = new Set(before?.members ?? []);
    const now = new Set(after?.members ?? []);
    const renamed = before && after && before.displayName !== after.displayName;
    const affected = [...new Set([...old, ...now])].filter(
      (id) => renamed || old.has(id) !== now.has(id),
    );
    let added = 0;
    let removed = 0;
    for (const id of now) if (!old.has(id)) added += 1;
    for (const id of old) if (!now.has(id)) removed += 1;
    for (let i = 0; i < affected.length; i += 50) {
      await Promise.all(
        affected.slice(i, i + 50).map(async (id) => {
          const user = await store.getUser(id);
          if (!user) return;
          let groups = user.groups;
          if (before && old.has(id))
            groups = groups.filter((g) => !sameName(g, before.displayName));
          if (after && now.has(id) && !groups.some((g) => sameName(g, after.displayName)))
            groups = [...groups, after.displayName];
          if (groups.length === user.groups.length && groups.every((g, k) => g === user.groups[k]))
            return;
          await store.updateUser({ ...user, groups });
          await sessions.refreshUser(id);
        }),
      );
    }
    return { added, removed };
  }
}

/** The user with the SCIM-settable fields replaced (absent optional fields are cleared, as PUT says). */
function withFields(user: User, fields: UserFields): User {
  const next: User = { ...user, email: fields.email, name: fields.name, active: fields.active };
  delete next.userName;
  delete next.givenName;
  delete next.familyName;
  delete next.externalId;
  if (fields.userName !== undefined) next.userName = fields.userName;
  if (fields.givenName !== undefined) next.givenName = fields.givenName;
  if (fields.familyName !== undefined) next.familyName = fields.familyName;
  if (fields.externalId !== undefined) next.externalId = fields.externalId;
  return next;
}
