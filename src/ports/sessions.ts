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
  /**
   * How the session was authenticated (`core/amr.ts` AuthMethod values), in the order gained.
   * Stores always return it; a session stored before this field existed reads as []. Optional in
   * the type only so session literals elsewhere keep compiling.
   */
  amr?: readonly string[];
}

export interface SessionStore {
  createSession(session: Session): Promise<void>;
  getSession(id: string): Promise<Session | null>;
  /** Records activity; never revives a deleted session. */
  touchSession(id: string, lastSeenAt: number): Promise<void>;
  /**
   * Adds authentication methods to a live session after a step-up, atomically (two concurrent
   * step-ups keep both); methods it already has are not repeated. Never revives a deleted or
   * expired session: false when there is none.
   */
  addSessionAmr(id: string, methods: readonly string[]): Promise<boolean>;
  /** Deletes and announces the revocation to every instance sharing the store. */
  deleteSession(id: string): Promise<void>;
  listUserSessions(userId: string): Promise<Session[]>;
  /** Deletes all of a user's sessions; returns their ids. */
  deleteUserSessions(userId: string): Promise<string[]>;
  /** Called with a session id whenever any instance revokes it. */
  onSessionRevoked(listener: (sessionId: string) => void): void;
}
