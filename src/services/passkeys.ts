import type { PasskeyRecord } from '../ports/passkeys.js';
import { PasskeyCeremonies } from './passkey-ceremonies.js';
import { cleanPasskeyName } from './passkey-name.js';

// The ceremonies live in passkey-ceremonies.ts, their refusals in passkey-refusal.ts, the
// name rule in passkey-name.ts; callers keep importing them from here.
export {
  PASSKEY_CHALLENGE_TTL_MS,
  type PasskeyOptions,
  type PasskeySettings,
} from './passkey-challenges.js';
export { cleanPasskeyName } from './passkey-name.js';
export type {
  AuthenticationResult,
  PasskeyRefusal,
  PasskeyRefused,
  RegistrationResult,
} from './passkey-refusal.js';

/**
 * A user's passkeys: the WebAuthn ceremonies (enrol, sign in, step up) and their management
 * (list, rename, remove) over the one passkey store.
 */
export class PasskeyService extends PasskeyCeremonies {
  /** The user's passkeys, oldest first. */
  list(userId: string): Promise<PasskeyRecord[]> {
    return this.store.listUserPasskeys(userId);
  }

  /** Renames one of the user's passkeys; false when it is not theirs (or gone). */
  rename(userId: string, id: string, name: string): Promise<boolean> {
    return this.store.renamePasskey(id, userId, cleanPasskeyName(name));
  }

  /** Removes one of the user's passkeys; the removed record, or null when it is not theirs. */
  remove(userId: string, id: string): Promise<PasskeyRecord | null> {
    return this.store.removePasskey(id, userId);
  }

  /** Admin: removes one passkey whoever owns it. */
  removeAny(id: string): Promise<PasskeyRecord | null> {
    return this.store.removePasskey(id);
  }

  /** Admin (and user deletion): removes every passkey of the user. */
  removeAll(userId: string): Promise<PasskeyRecord[]> {
    return this.store.removeUserPasskeys(userId);
  }
}
