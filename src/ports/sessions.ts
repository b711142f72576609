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
