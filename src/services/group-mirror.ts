import type { Group, GroupDirectory } from '../ports/groups.js';
import type { UserDirectory } from '../ports/users.js';

/** What mirroring a group into its members' `User.groups` reads and writes. */
export interface MirrorPorts {
  users: Pick<UserDirectory, 'updateUserGroups'>;
  groups: Pick<GroupDirectory, 'getGroup'>;
  /** Drops what this instance caches about the user's sessions (others re-read within 1 s). */
  sessions: { refreshUser(userId: string): Promise<void> };
}

export interface MirrorResult {
  added: number;
  removed: number;
  /** False when the group kept changing for MIRROR_ROUNDS passes (the caller may log it). */
  settled: boolean;
}

/** Rounds of mirroring while the group keeps changing underneath (other writers mirror too). */
const MIRROR_ROUNDS = 10;

/**
 * Mirrors a group write (`before` → `after`; null for a create or a delete) into `User.groups`
 * (by name), which identity headers and `access.rules` read; other groups a user has (from
 * OIDC claims, other groups) stay. SCIM and the admin panel both write through this.
 *
 * Applying the diff of this write alone would race: two instances' group writes commit in
 * one order, their mirrors may land in the other, so a user removed by the later write could
 * get the group back from the earlier write's mirror. Instead each affected user's entry is
 * derived from the group record as stored now, and the pass repeats while the group's version
 * moved during it: a pass ends only after reading the version that was still current when it
 * finished writing, so the last pass to end writes the final state. The mirror changes a user
 * only through `updateUserGroups` (compare-and-set per user), so mirrors of different groups
 * touching one user cannot overwrite each other either. (A whole-record `updateUser` racing
 * on another instance — a SCIM user PUT/PATCH, a sign-in — can still write back older groups.)
 *
 * Names match case-insensitively: a user's entry under any name the group had is the group's.
 */
export async function mirrorMembership(
  ports: MirrorPorts,
  before: Group | null,
  after: Group | null,
): Promise<MirrorResult> {
  const { users, groups: directory, sessions } = ports;
  const id = (after ?? before)?.id as string;
  const old = new Set(before?.members ?? []);
  const now = new Set(after?.members ?? []);
  const renamed = before && after && before.displayName !== after.displayName;
  const affected = [...new Set([...old, ...now])].filter(
    (member) => renamed || old.has(member) !== now.has(member),
  );
  let added = 0;
  let removed = 0;
  for (const member of now) if (!old.has(member)) added += 1;
  for (const member of old) if (!now.has(member)) removed += 1;
  // Every name this group had while we looked: a user's entry under any of them is ours.
  const names = new Set<string>();
  for (const group of [before, after]) if (group) names.add(group.displayName.toLowerCase());
  let current = await directory.getGroup(id);
  for (let round = 1; affected.length > 0; round += 1) {
    if (current) names.add(current.displayName.toLowerCase());
    const members = new Set(current?.members ?? []);
    const name = current?.displayName;
    const mirror = (groups: readonly string[], member: boolean): string[] => {
      const kept = groups.filter((g) => !names.has(g.toLowerCase()) || (member && g === name));
      return member && name !== undefined && !kept.includes(name) ? [...kept, name] : kept;
    };
    for (let i = 0; i < affected.length; i += 50) {
      await Promise.all(
        affected.slice(i, i + 50).map(async (member) => {
          const has = members.has(member);
          if (await users.updateUserGroups(member, (groups) => mirror(groups, has)))
            await sessions.refreshUser(member);
        }),
      );
    }
    const again = await directory.getGroup(id);
    if ((again?.version ?? -1) === (current?.version ?? -1)) break;
    // Only under a storm of writes to one group; the writers' next change repairs what is left.
    if (round >= MIRROR_ROUNDS) return { added, removed, settled: false };
    current = again;
  }
  return { added, removed, settled: true };
}
