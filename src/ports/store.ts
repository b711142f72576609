/** A user account (SPEC §4). Times are epoch milliseconds. */
export interface User {
  id: string;
  /** Lower-cased; unique across users. */
  email: string;
  name: string;
  groups: string[];
  active: boolean;
  verified: boolean;
  createdAt: number;
  lastLoginAt: number | null;
  passwordHash?: string;
  externalId?: string;
  /**
   * SCIM `userName` exactly as the provisioning client last sent it (Entra ID's UPN, or the
   * email in the client's own spelling); unique case-insensitively. Absent: the email.
   */
  userName?: string;
  /**
   * `scim` when SCIM created the user. SCIM may change the email only of users it provisioned:
   * an email decides who can sign in to the account, and others were not the IdP's to give.
   */
  provisionedBy?: 'scim';
  /** SCIM `name.givenName` / `name.familyName`, kept so provisioning clients read back what they wrote. */
  givenName?: string;
  familyName?: string;
  admin?: boolean;
}

/** A server-side session; the cookie only names it. */
export interface Session {
  id: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  ip: string;
  userAgent: string;
  method: string;
}

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

export interface SessionStore {
  createSession(session: Session): Promise<void>;
  getSession(id: string): Promise<Session | null>;
  /** Records activity; never revives a deleted session. */
  touchSession(id: string, lastSeenAt: number): Promise<void>;
  /** Deletes and announces the revocation to every instance sharing the store. */
  deleteSession(id: string): Promise<void>;
  listUserSessions(userId: string): Promise<Session[]>;
  /** Deletes all of a user's sessions; returns their ids. */
  deleteUserSessions(userId: string): Promise<string[]>;
  /** Called with a session id whenever any instance revokes it. */
  onSessionRevoked(listener: (sessionId: string) => void): void;
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

/**
 * One number per address (lower-cased) that orders its one-time links: a link whose stamp is
 * below the address's floor is void. Issuing a link takes the next stamp (voiding older links),
 * deactivating or deleting a user moves the floor past every link issued so far. Stamps are
 * clock milliseconds, so a link signed elsewhere (the CLI beside a memory store) can carry its
 * own issue time and still be ordered against the server's.
 */
export interface LinkFloors {
  /**
   * Atomically moves the floor to max(floor + 1, atLeast) and returns it: a stamp no earlier
   * link has, even within one millisecond. `keepMs` null keeps the floor until the next change.
   */
  nextLinkStamp(email: string, atLeast: number, keepMs: number | null): Promise<number>;
  /** Moves the floor up to `stamp`, never down. */
  raiseLinkFloor(email: string, stamp: number, keepMs: number): Promise<void>;
  /** 0 when the address has none. */
  getLinkFloor(email: string): Promise<number>;
}

/**
 * The store could not be reached, was not ready, or did not answer in time: a transient outage
 * (HTTP 503), as opposed to a fault in the store's data or scripts (500). Adapters throw it with
 * the driver's error as `cause`; callers classify with `instanceof`, never by message.
 */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'StoreUnavailableError';
  }
}

/** `updateUser` refuses to move a user onto an email another user already has. */
export class EmailTakenError extends Error {
  constructor(readonly email: string) {
    super(`email ${email} belongs to another user`);
    this.name = 'EmailTakenError';
  }
}

export interface UserPage {
  users: User[];
  total: number;
}

export interface UserDirectory {
  getUser(id: string): Promise<User | null>;
  getUserByEmail(email: string): Promise<User | null>;
  /**
   * Creates the user; returns the existing one instead when the email is taken. A user created
   * inactive has the link floor of its email moved, as on deactivation.
   */
  createUser(user: User): Promise<User>;
  /**
   * Replaces the stored record (email changes keep the index in step); throws `EmailTakenError`
   * when the new email belongs to another user. Deactivating (active true → false) also moves
   * the link floor of the old and new email: every outstanding link is void for good, whatever
   * path (admin panel, SCIM) deactivates.
   */
  updateUser(user: User): Promise<void>;
  /**
   * Replaces only `groups`, with `change(current groups)`, atomically against every other write
   * to the user: a concurrent write is never lost, `change` runs again on the newer record
   * instead. Resolves true when the groups changed, false when they did not or the user is gone.
   */
  updateUserGroups(id: string, change: (groups: readonly string[]) => string[]): Promise<boolean>;
  listUsers(query: { search?: string; offset: number; limit: number }): Promise<UserPage>;
  /**
   * Removes the record and its email index entry (sessions and groups are the caller's), and
   * moves the link floor of its email: a later account at that address never inherits old links.
   * Its audit trail goes too.
   */
  deleteUser(id: string): Promise<void>;
}

/**
 * A group provisioned over SCIM. `members` are user ids; membership is mirrored into each
 * member's `User.groups` (by `displayName`), which is what identity headers and rules read.
 */
export interface Group {
  id: string;
  /** Unique case-insensitively. */
  displayName: string;
  externalId?: string;
  members: string[];
  createdAt: number;
  updatedAt: number;
  /**
   * Bumped by every `updateGroup`; the version the writer read must still be the stored one
   * (optimistic concurrency across instances). Records stored before versions existed read as 0.
   */
  version: number;
}

/**
 * `updateGroup` found another version stored than the one the caller read (another instance
 * wrote the group meanwhile, or deleted it): read again, redo the change, try again.
 */
export class GroupVersionConflictError extends Error {
  constructor(readonly id: string) {
    super(`group ${id} changed since it was read`);
    this.name = 'GroupVersionConflictError';
  }
}

/** `updateGroup` refuses to rename a group onto a name another group already has. */
export class GroupNameTakenError extends Error {
  constructor(readonly displayName: string) {
    super(`group name ${displayName} belongs to another group`);
    this.name = 'GroupNameTakenError';
  }
}

export interface GroupPage {
  groups: Group[];
  total: number;
}

export interface GroupDirectory {
  getGroup(id: string): Promise<Group | null>;
  getGroupByName(displayName: string): Promise<Group | null>;
  /** Creates the group; returns the existing one instead when the name is taken. */
  createGroup(group: Group): Promise<Group>;
  /**
   * Compare-and-set: replaces the stored record only while its version is still `group.version`,
   * storing and returning it with the version bumped by one. Throws `GroupVersionConflictError`
   * when the stored version differs or the group is gone, `GroupNameTakenError` when the new
   * name is another group's.
   */
  updateGroup(group: Group): Promise<Group>;
  deleteGroup(id: string): Promise<void>;
  /** Ordered by lower-cased name. */
  listGroups(query: { offset: number; limit: number }): Promise<GroupPage>;
}

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

/**
 * One entry of a user's recent activity, kept for the admin panel. Never a secret: no token,
 * cookie, password or link URL, and no session id (it names a bearer credential's record).
 */
export interface AuditEntry {
  /** Epoch milliseconds (the injected clock). */
  at: number;
  /** `auth.login`, `session.ended`, `admin.deactivate`, … (docs/admin-panel.md, "Audit log"). */
  event: string;
  outcome: 'success' | 'failure';
  /** Who did it: an email (the user or an admin), `scim`, `cli` or `anonymous`. */
  actor: string;
  ip: string | null;
  requestId: string | null;
  /** The event's own short facts (method, reason, via, …). */
  detail: Record<string, string | number | boolean>;
}

/** How many entries a user's trail keeps; older ones drop off as new ones arrive. */
export const AUDIT_KEEP = 100;

export interface AuditTrail {
  /** Puts the entry in front of the user's trail, which keeps only the newest AUDIT_KEEP. */
  appendAudit(userId: string, entry: AuditEntry): Promise<void>;
  /** Newest first; at most `limit` entries. `deleteUser` removes the trail with the user. */
  listAudit(userId: string, limit: number): Promise<AuditEntry[]>;
}

export interface Counters {
  /** Adds one to a fixed-window counter and returns the new value; the window starts at the first hit. */
  hit(key: string, windowMs: number): Promise<number>;
}

/** Store health, for readiness and for dropping local caches when the link to shared state breaks. */
export interface StoreHealth {
  ping(): Promise<void>;
  /**
   * Whether every node the store needs answers now (each Cluster primary, the primary a
   * Sentinel names), for readiness; never rejects. `ping` asks only one node.
   */
  ready(): Promise<boolean>;
  /** Called with false when the store becomes unreachable and true when it is back. */
  onAvailability(listener: (available: boolean) => void): void;
  close(): Promise<void>;
  readonly kind: 'memory' | 'redis';
}

export type Store = SessionStore &
  TokenStore &
  LinkFloors &
  UserDirectory &
  GroupDirectory &
  IdentityDirectory &
  AuditTrail &
  Counters &
  StoreHealth;
