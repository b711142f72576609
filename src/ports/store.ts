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
  /** Marks a key used until `expiresAt`; true only for the first caller (for signed, stateless tokens). */
  markUsed(key: string, expiresAt: number): Promise<boolean>;
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
  /** Creates the user; returns the existing one instead when the email is taken. */
  createUser(user: User): Promise<User>;
  /**
   * Replaces the stored record (email changes keep the index in step); throws `EmailTakenError`
   * when the new email belongs to another user.
   */
  updateUser(user: User): Promise<void>;
  listUsers(query: { search?: string; offset: number; limit: number }): Promise<UserPage>;
}

export interface Counters {
  /** Adds one to a fixed-window counter and returns the new value; the window starts at the first hit. */
  hit(key: string, windowMs: number): Promise<number>;
}

/** Store health, for readiness and for dropping local caches when the link to shared state breaks. */
export interface StoreHealth {
  ping(): Promise<void>;
  /** Called with false when the store becomes unreachable and true when it is back. */
  onAvailability(listener: (available: boolean) => void): void;
  close(): Promise<void>;
  readonly kind: 'memory' | 'redis';
}

export type Store = SessionStore & TokenStore & UserDirectory & Counters & StoreHealth;
