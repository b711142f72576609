/** What a one-time login token stands for. Only the token's hash is the key. */
export interface TokenRecord {
  email: string;
  rd: string;
  expiresAt: number;
  purpose: 'magic_link' | 'oidc_state';
  /** `magic_link` only: the stamp `nextLinkStamp` gave it; absent on records from before stamps. */
  issuedAt?: number;
  /** `oidc_state` only: what the callback checks, kept server-side (never in the browser). */
  oidc?: OidcStateData;
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
  /** Marks a key used until `expiresAt`; true only for the first caller (for signed, stateless tokens). */
  markUsed(key: string, expiresAt: number): Promise<boolean>;
}
