import type { User } from '../ports/users.js';

/** What voids an address's outstanding links: moves its floor past every link issued so far. */
export interface LinkVoider {
  voidLinks(email: string): Promise<void>;
}

/**
 * Deactivating (active true → false) voids every outstanding link of the old and the new email
 * for good, whatever path deactivates (UserDirectory.updateUser). `email` is the new one,
 * lower-cased.
 */
export async function voidLinksOnDeactivation(
  floors: LinkVoider,
  previous: User | null | undefined,
  user: User,
  email: string,
): Promise<void> {
  if (!previous?.active || user.active) return;
  await floors.voidLinks(previous.email);
  if (previous.email !== email) await floors.voidLinks(email);
}
