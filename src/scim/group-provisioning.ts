import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import {
  type Group,
  type GroupDirectory,
  GroupNameTakenError,
  groupSource,
} from '../ports/groups.js';
import type { UserDirectory } from '../ports/users.js';
import type { AuditFacts, AuditSource, ScimAction } from '../services/audit.js';
import { mirrorMembership } from '../services/group-mirror.js';
import { type AuditRecorder, recordScim } from './audit-trail.js';
import { ScimError, taken } from './errors.js';
import type { GroupFields } from './resources.js';
import type { UserSessions } from './user-provisioning.js';

export interface GroupProvisioningDeps {
  users: UserDirectory;
  groups: GroupDirectory;
  sessions: UserSessions;
  clock: Clock;
  logger: Pick<Logger, 'warn'>;
  audit: AuditRecorder;
}

/**
 * What SCIM changes of groups: create, replace (PUT and PATCH), delete, each mirrored into the
 * members' `User.groups`.
 */
export class GroupProvisioning {
  constructor(private readonly deps: GroupProvisioningDeps) {}

  /** Every group, a page at a time (filters the store cannot index). */
  async *allGroups(): AsyncGenerator<Group> {
    const size = 500;
    for (let offset = 0; ; offset += size) {
      const page = await this.deps.groups.listGroups({ offset, limit: size });
      yield* page.groups;
      if (page.groups.length < size || offset + size >= page.total) return;
    }
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
    await this.log('create_group', group, source, { members: group.members.length });
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
    await this.log('update_group', next, source, {
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
    await this.log('delete_group', group, source, { members: group.members.length });
  }

  /** The audit event for a group change; the group is named by id and display name. */
  private log(
    action: ScimAction,
    group: Group,
    source: AuditSource | null,
    facts: AuditFacts,
  ): Promise<void> {
    return recordScim(
      this.deps.audit,
      action,
      { id: group.id, label: group.displayName },
      source,
      facts,
    );
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
