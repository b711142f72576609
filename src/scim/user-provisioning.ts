import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Group, GroupDirectory } from '../ports/groups.js';
import { EmailTakenError, type User, type UserDirectory, type UserInput } from '../ports/users.js';
import type { AuditSource } from '../services/audit.js';
import { type AuditRecorder, recordScim, recordScimSessionsEnded } from './audit-trail.js';
import { ScimError, taken } from './errors.js';
import type { UserFields } from './resources.js';
import type { WriteQueue } from './write-queue.js';

/** Ends and forgets a user's sessions (the session service, or a test's stand-in). */
export interface UserSessions {
  /** Deletes every session of the user; returns their ids. */
  revokeUser(userId: string): Promise<string[]>;
  /** Drops what is cached about the user's sessions after its record changed. */
  refreshUser(userId: string): Promise<void>;
}

export interface UserProvisioningDeps {
  users: UserDirectory;
  groups: GroupDirectory;
  sessions: UserSessions;
  clock: Clock;
  audit: AuditRecorder;
  /**
   * Admin by `admin.emails` or the admin panel: SCIM never changes such a user's email (their
   * address is what makes them admin, and the account was never the IdP's to hand over).
   */
  isProtectedAdmin: (user: User) => boolean;
  /** Retries the group writes a user's deletion makes. */
  writes: WriteQueue;
}

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** What SCIM changes of users: create, replace (PUT and PATCH), delete. */
export class UserProvisioning {
  constructor(private readonly deps: UserProvisioningDeps) {}

  /** Every user, in email order, a page at a time (filters the store cannot index). */
  async *allUsers(): AsyncGenerator<User> {
    const size = 500;
    for (let offset = 0; ; offset += size) {
      const page = await this.deps.users.listUsers({ offset, limit: size });
      yield* page.users;
      if (page.users.length < size || offset + size >= page.total) return;
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
    const { users, clock, audit } = this.deps;
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
    await recordScim(audit, 'create_user', stored, source, { active: user.active });
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
    const { users, sessions, audit } = this.deps;
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
        await recordScim(audit, 'deactivate_user', next, source, { sessions_ended: ended.length });
      if (emailChanged)
        await recordScim(audit, 'change_email', next, source, {
          from: existing.email,
          sessions_ended: ended.length,
        });
      const reason = deactivated ? 'deactivated' : 'email_changed';
      await recordScimSessionsEnded(audit, next, reason, ended.length, source);
    } else {
      await sessions.refreshUser(next.id);
    }
    if (!existing.active && next.active) await recordScim(audit, 'activate_user', next, source);
    const changed = (
      ['email', 'name', 'userName', 'externalId', 'givenName', 'familyName'] as const
    ).filter((key) => existing[key] !== next[key]);
    if (changed.length) await recordScim(audit, 'update_user', next, source, { changed });
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
    const { users, groups, sessions, audit } = this.deps;
    const ended = await sessions.revokeUser(user.id);
    for (const { id } of await this.groupsOf(user)) {
      await this.deps.writes.retryOnConflict(async () => {
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
    await recordScimSessionsEnded(audit, gone, 'deleted', ended.length, source);
    await recordScim(audit, 'delete_user', gone, source, { sessions_ended: ended.length });
  }
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
