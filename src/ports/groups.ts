/**
 * Who manages a stored group: `scim` (provisioned; the admin panel only shows it) or `admin`
 * (made in the admin panel; SCIM may not change it). Groups that only arrive in users' sign-in
 * claims have no record: they live in `User.groups` alone.
 */
export type GroupSource = 'scim' | 'admin';

/**
 * A group provisioned over SCIM or made in the admin panel. `members` are user ids; membership
 * is mirrored into each member's `User.groups` (by `displayName`), which is what identity
 * headers and rules read.
 */
export interface Group {
  id: string;
  /** Unique case-insensitively. */
  displayName: string;
  externalId?: string;
  members: string[];
  createdAt: number;
  updatedAt: number;
  /**
   * Bumped by every `updateGroup`; the version the writer read must still be the stored one
   * (optimistic concurrency across instances). Records stored before versions existed read as 0.
   */
  version: number;
  /** Absent on records stored before the admin panel could make groups: those are SCIM's. */
  source?: GroupSource;
}

/** Who manages `group` (records without a source were all written by SCIM). */
export function groupSource(group: Group): GroupSource {
  return group.source ?? 'scim';
}

/**
 * `updateGroup` found another version stored than the one the caller read (another instance
 * wrote the group meanwhile, or deleted it): read again, redo the change, try again.
 */
export class GroupVersionConflictError extends Error {
  constructor(readonly id: string) {
    super(`group ${id} changed since it was read`);
    this.name = 'GroupVersionConflictError';
  }
}

/** `updateGroup` refuses to rename a group onto a name another group already has. */
export class GroupNameTakenError extends Error {
  constructor(readonly displayName: string) {
    super(`group name ${displayName} belongs to another group`);
    this.name = 'GroupNameTakenError';
  }
}

export interface GroupPage {
  groups: Group[];
  total: number;
}

export interface GroupDirectory {
  getGroup(id: string): Promise<Group | null>;
  getGroupByName(displayName: string): Promise<Group | null>;
  /** Creates the group; returns the existing one instead when the name is taken. */
  createGroup(group: Group): Promise<Group>;
  /**
   * Compare-and-set: replaces the stored record only while its version is still `group.version`,
   * storing and returning it with the version bumped by one. Throws `GroupVersionConflictError`
   * when the stored version differs or the group is gone, `GroupNameTakenError` when the new
   * name is another group's.
   */
  updateGroup(group: Group): Promise<Group>;
  /**
   * Removes the group. With `version`, only while the stored version is still that one (a
   * member added meanwhile must not be left holding the name): throws
   * `GroupVersionConflictError` when it differs or the group is gone.
   */
  deleteGroup(id: string, version?: number): Promise<void>;
  /** Ordered by lower-cased name. */
  listGroups(query: { offset: number; limit: number }): Promise<GroupPage>;
}
