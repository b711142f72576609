import type { PatchTarget } from './patch.js';
import { isCaseExact } from './resources.js';

/** The attribute rules the patch engine applies to Users. */
export const USER_PATCH: PatchTarget = {
  multiValued: new Set([
    'emails',
    'groups',
    'phonenumbers',
    'addresses',
    'ims',
    'photos',
    'roles',
    'entitlements',
    'x509certificates',
  ]),
  readOnly: new Set(['id', 'meta', 'schemas', 'groups']),
  caseExact: isCaseExact,
};
/** The attribute rules the patch engine applies to Groups. */
export const GROUP_PATCH: PatchTarget = {
  multiValued: new Set(['members']),
  readOnly: new Set(['id', 'meta', 'schemas']),
  caseExact: isCaseExact,
};
