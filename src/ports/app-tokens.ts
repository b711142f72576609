import type { AppTokenScope } from '../core/app-token-scope.js';

/** A stored app token (SPEC §4): only the SHA-256 of the secret is kept. Times are epoch ms. */
export interface AppTokenRecord {
  /** Public id, shown in lists and used to revoke. */
  id: string;
  userId: string;
  name: string;
  /** `hashAppToken(secret)`; the key the check finds the record by. */
  hash: string;
  createdAt: number;
  lastUsedAt: number | null;
  /** Null: no expiry of its own (the service always sets one, from `tokens.max_lifetime`). */
  expiresAt: number | null;
  scope: AppTokenScope | null;
  /** Set by `revokeAppToken`; a revoked record is kept a while so a check can say why it fails. */
  revokedAt: number | null;
}

/**
 * How long a record is kept after it expired or was revoked, so the check can tell "expired" and
 * "revoked" from "unknown" (and a list can show an expired token); then it is gone.
 */
export const APP_TOKEN_KEEP_MS = 30 * 86_400_000;

export interface AppTokenStore {
  /** Stores a new record (its id and hash are fresh: callers mint them). */
  createAppToken(record: AppTokenRecord): Promise<void>;
  /** The record with this hash, expired and revoked ones included (until APP_TOKEN_KEEP_MS after). */
  findAppTokenByHash(hash: string): Promise<AppTokenRecord | null>;
  /** The record with this id, expired and revoked ones included. */
  getAppToken(id: string): Promise<AppTokenRecord | null>;
  /** The user's tokens that are not revoked (expired ones included), newest first. */
  listUserAppTokens(userId: string): Promise<AppTokenRecord[]>;
  /**
   * Marks the token revoked at `at`; returns the record as it was before, or null when there is
   * no such token or it was already revoked. Every instance sees it on its next read.
   */
  revokeAppToken(id: string, at: number): Promise<AppTokenRecord | null>;
  /** Revokes every token of the user (deactivation, deletion); returns those it revoked. */
  revokeUserAppTokens(userId: string, at: number): Promise<AppTokenRecord[]>;
  /** Records use at `at`: one small write; never revives or un-revokes a record; never moves back. */
  touchAppToken(id: string, at: number): Promise<void>;
}
