/**
 * A provider account linked to a user. The key is the OIDC issuer + `sub`, never the email: the
 * email claim can change or be reused at the provider, `sub` cannot (OIDC Core §5.7).
 */
export interface IdentityLink {
  issuer: string;
  subject: string;
  userId: string;
  /** Groups the provider asserted at the last sign-in, so the next one can take away the ones it drops. */
  groups: string[];
  linkedAt: number;
  lastLoginAt: number;
}

export interface IdentityDirectory {
  getIdentity(issuer: string, subject: string): Promise<IdentityLink | null>;
  /**
   * Stores the link unless this identity is linked already; returns the stored link (another
   * user's when an earlier or concurrent sign-in won).
   */
  linkIdentity(link: IdentityLink): Promise<IdentityLink>;
  /** Replaces an existing link's record; does nothing when the identity is not linked. */
  updateIdentity(link: IdentityLink): Promise<void>;
  unlinkIdentity(issuer: string, subject: string): Promise<void>;
  /**
   * Every identity linked to the user (so a second subject of an issuer that already has one
   * can be refused); order unspecified. Never misses a link stored by `linkIdentity` or updated
   * by `updateIdentity` (Redis links older than this method are indexed at their next sign-in).
   */
  listUserIdentities(userId: string): Promise<IdentityLink[]>;
}
