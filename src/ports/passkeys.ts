/**
 * A registered WebAuthn credential (a passkey). Times are epoch ms. Binary values are base64url
 * without padding, as WebAuthn's JSON encodings carry them.
 */
export interface PasskeyRecord {
  /** The credential ID; unique across ALL users (WebAuthn §7.1 step 26). */
  id: string;
  userId: string;
  /** The credential public key as the authenticator gave it (a COSE_Key). */
  publicKey: string;
  /** The last signature counter accepted (§6.1.1); 0 for authenticators that keep none. */
  counter: number;
  /** Transport hints from registration (`internal`, `hybrid`, `usb`, ...), passed back in options. */
  transports: string[];
  /** From the BE flag at registration: `multiDevice` credentials may be synced (§6.1.3). */
  deviceType: 'singleDevice' | 'multiDevice';
  /** The BS flag of the last accepted ceremony. */
  backedUp: boolean;
  /** The user's label (device / browser). */
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  /** Authenticator model (AAGUID, `00000000-...` when the authenticator does not say). */
  aaguid?: string;
}

export interface PasskeyStore {
  /**
   * Stores a new credential. Refuses (returns false, stores nothing) when a credential with this
   * ID exists, whoever owns it: a credential ID registered to another user must never be moved
   * or shared (WebAuthn §7.1 step 26).
   */
  createPasskey(record: PasskeyRecord): Promise<boolean>;
  getPasskey(id: string): Promise<PasskeyRecord | null>;
  /** The user's credentials, oldest first. */
  listUserPasskeys(userId: string): Promise<PasskeyRecord[]>;
  /**
   * Records an accepted assertion, atomically: succeeds only when `counter` is greater than the
   * stored one, or both are 0 (an authenticator without a counter). Of two racing assertions
   * with the same counter exactly one succeeds. Sets `backedUp`; `lastUsedAt` only moves forward.
   * False when refused or when there is no such credential.
   */
  updatePasskeyCounter(
    id: string,
    counter: number,
    backedUp: boolean,
    at: number,
  ): Promise<boolean>;
  /** Renames the credential when `userId` owns it; false otherwise. */
  renamePasskey(id: string, userId: string, name: string): Promise<boolean>;
  /**
   * Removes the credential (only when `userId`, if given, owns it); returns the removed record,
   * or null when nothing was removed. Every instance refuses it on its next read.
   */
  removePasskey(id: string, userId?: string): Promise<PasskeyRecord | null>;
  /** Removes every credential of the user; returns those it removed. */
  removeUserPasskeys(userId: string): Promise<PasskeyRecord[]>;
}

/** One WebAuthn ceremony in flight, kept server-side until it completes or expires. */
export interface PasskeyChallenge {
  /** The base64url challenge the browser signs over (clientDataJSON.challenge). */
  challenge: string;
  kind: 'register' | 'login';
  /** `register` only: who is enrolling; a challenge for one user never completes another's. */
  userId: string | null;
  expiresAt: number;
}

export interface PasskeyChallengeStore {
  /** `key` is the hash of the handle the browser holds (like one-time tokens: never the handle). */
  putPasskeyChallenge(key: string, challenge: PasskeyChallenge): Promise<void>;
  /**
   * Atomically returns and removes the challenge: of two racing callers exactly one gets it.
   * Null when unknown, already taken, or expired (by the injected clock).
   */
  takePasskeyChallenge(key: string): Promise<PasskeyChallenge | null>;
}
