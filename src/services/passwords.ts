import { normalizeEmail } from '../core/email.js';
import { hashPassword, MAX_PASSWORD_LENGTH } from '../core/password.js';
import type { Store, User } from '../ports/store.js';

/** A user whose password hash is in the config file (`auth.basic.users`), not the store. */
export interface StaticUser {
  email: string;
  password_hash: string;
}

/** NIST SP 800-63B §5.1.1.2: at least 8 characters for a password a person chose. */
export const MIN_PASSWORD_LENGTH = 8;

export type SetPasswordResult =
  | { ok: true; user: User }
  | { ok: false; reason: 'too_short' | 'too_long' | 'static_user'; message: string };

/**
 * Sets (or, with `null`, removes) a user's password, for the admin panel's "set or reset a
 * password". The hash goes into the user record; `auth.basic.users` in the config stays the
 * only source for the users it lists, so those are refused with a pointer to the config.
 * Ending the user's sessions after a reset is the caller's choice (`SessionService.revokeUser`).
 */
export async function setUserPassword(
  store: Store,
  staticUsers: readonly StaticUser[],
  user: User,
  password: string | null,
): Promise<SetPasswordResult> {
  const fixed = staticUsers.some((s) => normalizeEmail(s.email) === user.email.toLowerCase());
  if (fixed) {
    return {
      ok: false,
      reason: 'static_user',
      message: `${user.email} has its password in the config file (auth.basic.users); change it there.`,
    };
  }
  if (password !== null && password.length < MIN_PASSWORD_LENGTH) {
    return {
      ok: false,
      reason: 'too_short',
      message: `A password needs at least ${MIN_PASSWORD_LENGTH} characters.`,
    };
  }
  if (password !== null && password.length > MAX_PASSWORD_LENGTH) {
    return {
      ok: false,
      reason: 'too_long',
      message: `A password can have at most ${MAX_PASSWORD_LENGTH} characters.`,
    };
  }
  const { passwordHash: _old, ...rest } = user;
  const updated: User =
    password === null ? rest : { ...rest, passwordHash: await hashPassword(password) };
  await store.updateUser(updated);
  return { ok: true, user: updated };
}
