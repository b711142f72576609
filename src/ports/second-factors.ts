/**
 * A user's TOTP enrolment as stored. The secret is sealed (core/secret-box.ts), never plain.
 */
export interface StoredTotp {
  /** `SecretBox.seal(base32 secret, userId)`. */
  secretEnc: string;
  /** Epoch ms of the confirming code; null while pending (begun, not yet confirmed). */
  confirmedAt: number | null;
  /** The highest time step accepted so far (0 while pending): the replay guard. */
  lastUsedStep: number;
}

/** Everything stored about one user's second factors (passkeys live elsewhere). */
export interface SecondFactorRecord {
  totp: StoredTotp | null;
  /** Keyed hashes (hex) of the unused recovery codes, sorted. */
  recoveryHashes: string[];
}

/**
 * Second factors per user. Every write is atomic against the one record (one key per user in
 * Redis), so several instances sharing the store cannot accept the same TOTP step or recovery
 * code twice.
 */
export interface SecondFactorStore {
  /** The user's record, or null when nothing is stored. */
  getSecondFactors(userId: string): Promise<SecondFactorRecord | null>;
  /**
   * Starts (or restarts) an enrolment: a pending TOTP with this sealed secret, replacing any
   * pending one. False, and nothing changes, when a confirmed TOTP exists (remove it first).
   */
  setPendingTotp(userId: string, secretEnc: string): Promise<boolean>;
  /**
   * Confirms the pending TOTP if its secret is still `secretEnc` (a restart in another tab
   * loses): sets `confirmedAt`, `lastUsedStep = step` (the confirming code is used up) and
   * replaces the recovery hashes. False when there is no such pending TOTP.
   */
  confirmTotp(
    userId: string,
    secretEnc: string,
    step: number,
    confirmedAt: number,
    recoveryHashes: readonly string[],
  ): Promise<boolean>;
  /**
   * Compare-and-set: records `step` only when the TOTP is confirmed and `step` is above
   * `lastUsedStep`. True for exactly one caller per step, on every instance together.
   */
  recordTotpStep(userId: string, step: number): Promise<boolean>;
  /** Removes `hash` from the user's recovery hashes; true only for the call that removed it. */
  consumeRecoveryCode(userId: string, hash: string): Promise<boolean>;
  /** Replaces the recovery hashes when a confirmed TOTP exists; false (no change) otherwise. */
  replaceRecoveryCodes(userId: string, recoveryHashes: readonly string[]): Promise<boolean>;
  /** Forgets the TOTP and the recovery codes (disable, user deletion). */
  removeSecondFactors(userId: string): Promise<void>;
}
