import type { PasskeyRecord } from '../ports/passkeys.js';

/** The order every store lists a user's passkeys in: oldest first, then by id (stable). */
export function byCreation(a: PasskeyRecord, b: PasskeyRecord): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1);
}
