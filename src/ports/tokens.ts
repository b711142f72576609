/** What a one-time login token stands for. Only the token's hash is the key. */
export interface TokenRecord {
  email: string;
  rd: string;
  expiresAt: number;
  purpose: 'magic_link' | 'oidc_state' | 'second_factor';
  /** `magic_link` only: the stamp `nextLinkStamp` gave it; absent on records from before stamps. */
  issuedAt?: number;
  /**
   * Until when the store keeps the record (never before `expiresAt`, the default): a link clicked
   * after it expired can then be told "expired" rather than "not valid". Past `expiresAt` the
   * record is only ever read by `readToken`; consume and peek treat it as gone.
   */
  keepUntil?: number;
  /** `oidc_state` only: what the callback checks, kept server-side (never in the browser). */
  oidc?: OidcStateData;
  /** `second_factor` only: a sign-in whose password was right, waiting for its second step. */
  secondFactor?: PendingSecondFactor;
}

/**
 * A half-done password sign-in (no session exists yet): whose, and which step is next. `verify`:
 * a TOTP or recovery code; `enrol`: set up TOTP first (`auth.basic.second_factor: required`);
 * `enrolled`: TOTP confirmed and recovery codes shown, the session starts on "continue".
 */
export interface PendingSecondFactor {
  userId: string;
  stage: 'verify' | 'enrol' | 'enrolled';
}

/** One OIDC sign-in in flight, keyed by the hash of its `state`. */
export interface OidcStateData {
  /** Which login method started it (`oidc`, `google_oauth`): a state from one never completes another. */
  method: string;
  nonce: string;
  /** PKCE code verifier; null when the provider is configured with `pkce: false`. */
  verifier: string | null;
  /** Hash of the browser-binding cookie: the callback must come from the browser that started. */
  binding: string;
}

export interface TokenStore {
  putToken(hash: string, record: TokenRecord): Promise<void>;
  /** Atomically returns and removes the record: of two racing callers, exactly one gets it. */
  consumeToken(hash: string): Promise<TokenRecord | null>;
  /** The unexpired record, left in place (the magic-link confirm page names its account). */
  peekToken(hash: string): Promise<TokenRecord | null>;
  /**
   * The record as kept, expired or not (see `keepUntil`), left exactly as it was: no write, no
   * change to its lifetime. For telling a dead link's reason; never for deciding to sign in.
   */
  readToken(hash: string): Promise<TokenRecord | null>;
  /** Marks a key used until `expiresAt`; true only for the first caller (for signed, stateless tokens). */
  markUsed(key: string, expiresAt: number): Promise<boolean>;
  /** Whether `markUsed` holds a mark on `key` now; a read only, the mark is left as it was. */
  isMarkedUsed(key: string): Promise<boolean>;
}
