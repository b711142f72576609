import { checkAmrNames } from '../../core/amr.js';
import type { Clock } from '../../core/clock.js';
import type { Session, SessionStore } from '../../ports/sessions.js';
import type { Sweeper } from './sweeper.js';

export class MemorySessions implements SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly userSessions = new Map<string, Set<string>>();
  private readonly revokeListeners: ((id: string) => void)[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly sweeper: Sweeper,
  ) {
    sweeper.add((now) => {
      for (const [id, session] of this.sessions)
        if (session.expiresAt <= now) this.removeSession(id);
    });
  }

  private removeSession(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    const set = this.userSessions.get(session.userId);
    set?.delete(id);
    if (set && set.size === 0) this.userSessions.delete(session.userId);
    return true;
  }

  private announce(id: string): void {
    for (const listener of this.revokeListeners) listener(id);
  }

  async createSession(session: Session): Promise<void> {
    this.sweeper.sweep();
    checkAmrNames(session.amr ?? []);
    this.sessions.set(session.id, { ...session, amr: [...(session.amr ?? [])] });
    let set = this.userSessions.get(session.userId);
    if (!set) {
      set = new Set();
      this.userSessions.set(session.userId, set);
    }
    set.add(session.id);
  }

  async getSession(id: string): Promise<Session | null> {
    const session = this.sessions.get(id);
    if (!session) return null;
    if (session.expiresAt <= this.clock.now()) {
      this.removeSession(id);
      return null;
    }
    return { ...session, amr: [...(session.amr ?? [])] };
  }

  async addSessionAmr(id: string, methods: readonly string[]): Promise<boolean> {
    checkAmrNames(methods);
    const session = this.sessions.get(id);
    if (!session || session.expiresAt <= this.clock.now()) return false;
    const amr = [...(session.amr ?? [])];
    for (const method of methods) if (!amr.includes(method)) amr.push(method);
    session.amr = amr;
    return true;
  }

  async touchSession(id: string, lastSeenAt: number): Promise<void> {
    const session = this.sessions.get(id);
    if (session && lastSeenAt > session.lastSeenAt) session.lastSeenAt = lastSeenAt;
  }

  async deleteSession(id: string): Promise<void> {
    this.removeSession(id);
    this.announce(id);
  }

  async listUserSessions(userId: string): Promise<Session[]> {
    const now = this.clock.now();
    const out: Session[] = [];
    for (const id of this.userSessions.get(userId) ?? []) {
      const session = this.sessions.get(id);
      if (session && session.expiresAt > now)
        out.push({ ...session, amr: [...(session.amr ?? [])] });
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  }

  async deleteUserSessions(userId: string): Promise<string[]> {
    const ids = [...(this.userSessions.get(userId) ?? [])];
    for (const id of ids) {
      this.removeSession(id);
      this.announce(id);
    }
    return ids;
  }

  onSessionRevoked(listener: (sessionId: string) => void): void {
    this.revokeListeners.push(listener);
  }
}
