import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import {
  type Group,
  type GroupDirectory,
  GroupNameTakenError,
  GroupVersionConflictError,
  groupSource,
} from '../ports/groups.js';
import { EmailTakenError, type User, type UserDirectory, type UserInput } from '../ports/users.js';
import {
  type AuditEvent,
  type AuditFacts,
  type AuditParty,
  type AuditRecord,
  type AuditSource,
  recordSessionsEnded,
  SCIM_ACTOR,
  type ScimAction,
  type SessionEndReason,
} from '../services/audit.js';
import { mirrorMembership } from '../services/group-mirror.js';
import { ScimError } from './errors.js';
import type { GroupFields, UserFields } from './resources.js';

/** Ends and forgets a user's sessions (the session service, or a test's stand-in). */
export interface UserSessions {
  /** Deletes every session of the user; returns their ids. */
  revokeUser(userId: string): Promise<string[]>;
  /** Drops what is cached about the user's sessions after its record changed. */
  refreshUser(userId: string): Promise<void>;
}

/** The one method of the audit log SCIM writes through. */
export interface AuditRecorder {
  record(event: AuditEvent, who: AuditRecord): Promise<void>;
}

export interface ProvisioningDeps {
  users: UserDirectory;
  groups: GroupDirectory;
  sessions: UserSessions;
  clock: Clock;
  logger: Pick<Logger, 'warn'>;
  audit: AuditRecorder;
  /**
   * Admin by `admin.emails` or the admin panel: SCIM never changes such a user's email (their
   * address is what makes them admin, and the account was never the IdP's to hand over).
   */
  isProtectedAdmin: (user: User) => boolean;
  /** Jitter for the retry backoff; `Math.random` unless a test injects one. */
  random?: () => number;
}

/** Read-modify-write attempts on one group before giving up (each loses only to a write that won). */
const GROUP_WRITE_TRIES = 10;

const taken = (detail: string) => new ScimError(409, detail, 'uniqueness');
const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * What SCIM changes, apart from HTTP. Writes run one at a time on this instance (provisioning
 * clients send few, mostly sequential requests); across instances a group is written with
 * compare-and-set on its version and the whole read-modify-write is retried on a conflict
 * (`retryOnConflict`). Every change is an audit event (`scim.*`, `actor: "scim"`), like the
 * admin panel's; each writing method takes the request's `AuditSource` for it.
 */
export class Provisioning {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ProvisioningDeps) {}

  /** Runs `task` after every write queued before it. */
  serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Runs `task` (read the group, change it, `updateGroup`) again while another instance wrote
   * the group between its read and its write, with a small random pause so two retrying
   * instances fall out of step. After GROUP_WRITE_TRIES conflicts it answers 503: the request
   * was valid and nothing was applied, the contention is ours and passes, so the client should
   * retry it — IdPs do retry 5xx — whereas 409 means "uniqueness" in SCIM (RFC 7644 §3.12) and
   * 412 is for a client-sent stale `If-Match` (§3.14); neither fits and both are final.
   */
  async retryOnConflict<T>(task: () => Promise<T>): Promise<T> {
    const random = this.deps.random ?? Math.random;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await task();
      } catch (error) {
        if (!(error instanceof GroupVersionConflictError)) throw error;
        if (attempt >= GROUP_WRITE_TRIES) {
          this.deps.logger.warn(
            { group_id: error.id, attempts: attempt },
            'scim: group kept changing under concurrent writes; giving up',
          );
          throw new ScimError(
            503,
            'The group is being changed by another request. Try again.',
            undefined,
            'busy',
          );
        }
        await new Promise((resolve) => setTimeout(resolve, random() * 5 * attempt));
      }
    }
  }

  private async log(
    action: ScimAction,
    subject: AuditParty,
    source: AuditSource | null,
    facts: AuditFacts = {},
  ): Promise<void> {
    await this.deps.audit.record(
      { event: `scim.${action}`, facts },
      { actor: SCIM_ACTOR, subject, source },
    );
  }

  private ended(
    subject: AuditParty,
    reason: SessionEndReason,
    count: number,
    source: AuditSource | null,
  ): Promise<void> {
    return recordSessionsEnded(this.deps.audit, reason, count, {
      actor: SCIM_ACTOR,
      subject,
      source,
    });
  }

  /** Every user, in email order, a page at a time (filters the store cannot index). */
  async *allUsers(): AsyncGenerator<User> {
    const size = 500;
    for (let offset = 0; ; offset += size) {
      const page = await this.deps.users.listUsers({ offset, limit: size });
      yield* page.users;
      if (page.users.length < size || offset + size >= page.total) return;
    }
  }

  async *allGroups(): AsyncGenerator<Group> {
    const size = 500;
    for (let offset = 0; ; offset += size) {
      const page = await this.deps.groups.listGroups({ offset, limit: size });
      yield* page.groups;
      if (page.groups.length < size || offset + size >= page.total) return;
    }
  }

  /**
   * `userName` is unique case-insensitively (a user without one answers to its email) and
   * `externalId` exactly (RFC 7643 §3.1: caseExact): an IdP that found two users for one of its
   * ids would update the wrong one. Only values that change are checked, so users stored before
   * these checks existed stay writable.
   */
  private async checkUnique(fields: UserFields, existing: User | null): Promise<void> {
    const checkName = !existing || !sameName(scimUserName(existing), fields.userName);
    const externalId =
      fields.externalId !== undefined && fields.externalId !== existing?.externalId
        ? fields.externalId
        : undefined;
    if (!checkName && externalId === undefined) return;
    for await (const other of this.allUsers()) {
      if (other.id === existing?.id) continue;
      if (checkName && sameName(scimUserName(other), fields.userName))
        throw taken(`userName ${fields.userName} is taken`);
      if (externalId !== undefined && other.externalId === externalId)
        throw taken(`externalId ${externalId} belongs to another user`);
    }
  }

  /** The SCIM groups the user is a member of. */
  async groupsOf(user: User): Promise<Group[]> {
    const groups = await Promise.all(
      user.groups.map((name) => this.deps.groups.getGroupByName(name)),
    );
    return groups.filter((g): g is Group => g?.members.includes(user.id) === true);
  }

  async createUser(fields: UserFields, source: AuditSource | null = null): Promise<User> {
    const { users, clock } = this.deps;
    if (await users.getUserByEmail(fields.email))
      throw taken(`a user with email ${fields.email} exists`);
    await this.checkUnique(fields, null);
    const blank: UserInput = {
      id: randomUUID(),
      // The portcullis username starts as the SCIM userName (an Entra UPN stays `a@b.com`);
      // later userName changes leave it be: apps behind portcullis keyed their accounts on it.
      username: fields.userName,
      email: fields.email,
      name: fields.name,
      groups: [],
      active: fields.active ?? true,
      verified: false,
      createdAt: clock.now(),
      lastLoginAt: null,
      provisionedBy: 'scim',
    };
    const user = withFields(blank, fields);
    const stored = await users.createUser(user);
    if (stored.id !== user.id) throw taken(`a user with email ${fields.email} exists`);
    await this.log('create_user', stored, source, { active: user.active });
    return stored;
  }

  /**
   * PUT, and the outcome of a PATCH. Deactivation and an email change end every session of the
   * user (sessions opened under the old address must not outlive it).
   */
  async replaceUser(
    existing: User,
    fields: UserFields,
    source: AuditSource | null = null,
  ): Promise<User> {
    const { users, sessions } = this.deps;
    const next = withFields(existing, fields);
    const emailChanged = next.email !== existing.email;
    if (emailChanged) this.checkEmailChange(existing);
    await this.checkUnique(fields, existing);
    try {
      await users.updateUser(next);
    } catch (error) {
      if (error instanceof EmailTakenError) throw taken(`a user with email ${next.email} exists`);
      throw error;
    }
    const deactivated = existing.active && !next.active;
    if (deactivated || emailChanged) {
      const ended = await sessions.revokeUser(next.id);
      await sessions.refreshUser(next.id);
      if (deactivated)
        await this.log('deactivate_user', next, source, { sessions_ended: ended.length });
      if (emailChanged)
        await this.log('change_email', next, source, {
          from: existing.email,
          sessions_ended: ended.length,
        });
      const reason = deactivated ? 'deactivated' : 'email_changed';
      await this.ended(next, reason, ended.length, source);
    } else {
      await sessions.refreshUser(next.id);
    }
    if (!existing.active && next.active) await this.log('activate_user', next, source);
    const changed = (
      ['email', 'name', 'userName', 'externalId', 'givenName', 'familyName'] as const
    ).filter((key) => existing[key] !== next[key]);
    if (changed.length) await this.log('update_user', next, source, { changed });
    return next;
  }

  /**
   * The email decides who can sign in to an account (magic links go to it, `admin.emails` match
   * it), so SCIM moves it only for users SCIM created and who are not admins by config or the
   * panel: otherwise an IdP could hand a self-registered admin's account to an address it
   * controls. 400 `mutability` (RFC 7644 §3.12: "not compatible with the target attribute's
   * mutability or current state") rather than 403, which IdPs read as a credential problem, or
   * 409, which means uniqueness; a 4xx other than 429 is also final for Entra ID and Okta, so
   * the refusal is reported instead of retried.
   */
  private checkEmailChange(existing: User): void {
    if (existing.provisionedBy !== 'scim')
      throw new ScimError(
        400,
        `the email of ${existing.email} cannot be changed over SCIM: the user was not created by SCIM`,
        'mutability',
      );
    if (this.deps.isProtectedAdmin(existing))
      throw new ScimError(
        400,
        `the email of ${existing.email} cannot be changed over SCIM: the user is a portcullis admin`,
        'mutability',
      );
  }

  /**
   * DELETE removes the user (RFC 7644 §3.6: later requests for it answer 404): sessions end
   * first, the user leaves its SCIM groups, then the record goes. Okta never deletes (it
   * deactivates); Entra ID deletes after its soft-delete period.
   */
  async deleteUser(user: User, source: AuditSource | null = null): Promise<void> {
    const { users, groups, sessions } = this.deps;
    const ended = await sessions.revokeUser(user.id);
    for (const { id } of await this.groupsOf(user)) {
      await this.retryOnConflict(async () => {
        const group = await groups.getGroup(id);
        if (!group?.members.includes(user.id)) return;
        await groups.updateGroup({
          ...group,
          members: group.members.filter((member) => member !== user.id),
          updatedAt: this.deps.clock.now(),
        });
      });
    }
    await users.deleteUser(user.id);
    await sessions.refreshUser(user.id);
    // Named, not passed as the user: its trail went with it and must not be written again.
    const gone = { id: user.id, label: user.email };
    await this.ended(gone, 'deleted', ended.length, source);
    await this.log('delete_user', gone, source, { sessions_ended: ended.length });
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
          known.has(id) ? Promise.resolve(true) : this.deps.users.getUser(id).then(Boolean),
        ),
      );
      chunk.forEach((id, index) => {
        if (users[index]) out.push(id);
      });
    }
    return out;
  }

  async createGroup(fields: GroupFields, source: AuditSource | null = null): Promise<Group> {
    const { groups, clock } = this.deps;
    const existing = await groups.getGroupByName(fields.displayName);
    if (existing) throw taken(groupTaken(existing));
    const now = clock.now();
    const group: Group = {
      id: randomUUID(),
      displayName: fields.displayName,
      members: await this.existingUsers(fields.members, new Set()),
      createdAt: now,
      updatedAt: now,
      version: 0,
    };
    if (fields.externalId !== undefined) group.externalId = fields.externalId;
    const stored = await groups.createGroup(group);
    if (stored.id !== group.id) throw taken(groupTaken(stored));
    await this.syncMembers(null, group);
    await this.log('create_group', { id: group.id, label: group.displayName }, source, {
      members: group.members.length,
    });
    return group;
  }

  /**
   * Writes `existing` changed by PUT or PATCH; throws `GroupVersionConflictError` when another
   * write came first (run it inside `retryOnConflict`, which reads the group again).
   */
  async replaceGroup(
    existing: Group,
    fields: GroupFields,
    source: AuditSource | null = null,
  ): Promise<Group> {
    refuseAdminGroup(existing);
    let next: Group = {
      id: existing.id,
      displayName: fields.displayName,
      members: await this.existingUsers(fields.members, new Set(existing.members)),
      createdAt: existing.createdAt,
      updatedAt: this.deps.clock.now(),
      version: existing.version,
    };
    if (fields.externalId !== undefined) next.externalId = fields.externalId;
    try {
      next = await this.deps.groups.updateGroup(next);
    } catch (error) {
      if (error instanceof GroupNameTakenError) {
        const owner = await this.deps.groups.getGroupByName(next.displayName);
        throw taken(owner ? groupTaken(owner) : `a group named ${next.displayName} exists`);
      }
      throw error;
    }
    const { added, removed } = await this.syncMembers(existing, next);
    await this.log('update_group', { id: next.id, label: next.displayName }, source, {
      ...(existing.displayName !== next.displayName ? { renamed_from: existing.displayName } : {}),
      members_added: added,
      members_removed: removed,
    });
    return next;
  }

  async deleteGroup(group: Group, source: AuditSource | null = null): Promise<void> {
    refuseAdminGroup(group);
    await this.deps.groups.deleteGroup(group.id);
    await this.syncMembers(group, null);
    await this.log('delete_group', { id: group.id, label: group.displayName }, source, {
      members: group.members.length,
    });
  }

  /** Mirrors the write into members' `User.groups` (`mirrorMembership` says how it stays right). */
  private async syncMembers(
    before: Group | null,
    after: Group | null,
  ): Promise<{ added: number; removed: number }> {
    const result = await mirrorMembership(this.deps, before, after);
    if (!result.settled)
      this.deps.logger.warn(
        { group_id: (after ?? before)?.id },
        'scim: group kept changing while mirroring',
      );
    return { added: result.added, removed: result.removed };
  }
}

/** Why a group name is taken, naming the admin panel when it made the group. */
function groupTaken(owner: Group): string {
  return groupSource(owner) === 'admin'
    ? `a group named ${owner.displayName} exists in the portcullis admin panel`
    : `a group named ${owner.displayName} exists`;
}

/**
 * SCIM may read a group made in the admin panel but never change or delete it: an IdP that
 * matched it by name would otherwise replace its members silently. 400 `mutability`, as for a
 * refused email change (RFC 7644 §3.12), so Entra ID and Okta report the refusal rather than
 * retry it; creating a group under its name is 409 `uniqueness`.
 */
function refuseAdminGroup(group: Group): void {
  if (groupSource(group) !== 'scim')
    throw new ScimError(
      400,
      `the group ${group.displayName} is managed in the portcullis admin panel: SCIM cannot change it`,
      'mutability',
    );
}

/** What a user answers to as SCIM `userName`. */
export function scimUserName(user: User): string {
  return user.userName ?? user.email;
}

/**
 * The user with the SCIM-settable fields replaced (absent optional fields are cleared, as PUT
 * says; an absent `active` is not "true" but "unchanged": a PUT that leaves it out must not
 * re-activate a deactivated user).
 */
function withFields<T extends UserInput>(user: T, fields: UserFields): T {
  const next: T = {
    ...user,
    email: fields.email,
    name: fields.name,
    active: fields.active ?? user.active,
  };
  delete next.userName;
  delete next.givenName;
  delete next.familyName;
  delete next.externalId;
  next.userName = fields.userName;
  if (fields.givenName !== undefined) next.givenName = fields.givenName;
  if (fields.familyName !== undefined) next.familyName = fields.familyName;
  if (fields.externalId !== undefined) next.externalId = fields.externalId;
  return next;
}
