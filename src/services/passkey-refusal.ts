import type { PasskeyRecord } from '../ports/passkeys.js';
import type { User } from '../ports/users.js';
import { isCrossOrigin } from './passkey-response.js';

/** Why a ceremony did not complete. Users see one generic message; logs and audits see this. */
export type PasskeyRefusal =
  /** The response is not the JSON shape a browser sends. */
  | 'malformed'
  /** Unknown, used, expired, or for another ceremony kind or user. */
  | 'bad_challenge'
  /** Signature, origin, RP ID, flags, challenge echo, attestation: the library refused. */
  | 'verification_failed'
  /** Registration: this credential ID is already registered (to anyone). */
  | 'credential_in_use'
  /** Sign-in: no such credential (removed, or never registered here). */
  | 'unknown_credential'
  /**
   * Sign-in: a signature counter that did not increase (WebAuthn §6.1.1). The signature was
   * valid, so the authenticator may have been cloned: callers should audit it.
   */
  | 'counter_regressed'
  /** The account is deactivated or gone. */
  | 'inactive_user'
  /** Sign-in: the user handle does not name the credential's owner. */
  | 'user_handle_mismatch'
  /** Sign-in bound to a user (step-up): the credential belongs to someone else. */
  | 'wrong_user';

export interface PasskeyRefused {
  ok: false;
  reason: PasskeyRefusal;
  /** The library's or our detail, for logs only (never shown to the user). */
  detail?: string;
  /** `counter_regressed`: the credential concerned, so callers can audit a possible clone. */
  record?: PasskeyRecord;
}

export type RegistrationResult = { ok: true; record: PasskeyRecord } | PasskeyRefused;
export type AuthenticationResult = { ok: true; user: User; record: PasskeyRecord } | PasskeyRefused;

export function refused(
  reason: PasskeyRefusal,
  detail?: string,
  record?: PasskeyRecord,
): PasskeyRefused {
  return { ok: false, reason, ...(detail ? { detail } : {}), ...(record ? { record } : {}) };
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs one of the library's verifications: what `info` reads off a verified result, or the
 * refusal (`notVerified` when the library says no, its message when it throws, or a ceremony
 * the browser ran inside a cross-origin frame, which the library does not check).
 */
export async function libraryVerdict<R extends { verified: boolean }, I>(
  verify: () => Promise<R>,
  info: (result: R) => I | undefined,
  notVerified: string,
  clientDataJSON: string,
): Promise<{ info: I } | PasskeyRefused> {
  let result: R;
  try {
    result = await verify();
  } catch (error) {
    return refused('verification_failed', messageOf(error));
  }
  const read = result.verified ? info(result) : undefined;
  if (read === undefined) return refused('verification_failed', notVerified);
  if (isCrossOrigin(clientDataJSON)) return refused('verification_failed', 'cross-origin ceremony');
  return { info: read };
}
