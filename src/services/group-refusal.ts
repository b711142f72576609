/*
 * The closed set of reasons the admin panel's group changes are refused, and their words.
 */
import type { GroupOrigin } from './group-rows.js';

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

/** A refusal of kind `reason`. */
export const refuse = <R extends GroupRefusal['reason']>(
  reason: R,
  extra: Omit<Extract<GroupRefusal, { reason: R }>, 'ok' | 'reason'>,
) => ({ ok: false, reason, ...extra }) as Extract<GroupRefusal, { reason: R }>;
/** Whether a step's result is a refusal (and not the group or change it was after). */
export const isRefusal = (value: unknown): value is GroupRefusal =>
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
