import type { Clock } from '../../core/clock.js';
import {
  AUDIT_KEEP,
  type AuditEntry,
  EmailTakenError,
  type Group,
  GroupNameTakenError,
  type GroupPage,
  GroupVersionConflictError,
  type IdentityLink,
  type Session,
  type Store,
  type TokenRecord,
  type User,
  type UserPage,
} from '../../ports/store.js';

/** Single-instance store. Expiry is checked against the injected clock on every read. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly sessions = new Map<string, Session>();
  private readonly userSessions = new Map<string, Set<string>>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly used = new Map<string, number>();
  /** Per lower-cased address: the floor and until when it is kept (Infinity: until changed). */
  private readonly linkFloors = new Map<string, { floor: number; until: number }>();
  private readonly users = new Map<string, User>();
  private readonly emails = new Map<string, string>();
  private readonly groups = new Map<string, Group>();
  /** Lower-cased display name to group id. */
  private readonly groupNames = new Map<string, string>();
  private readonly counters = new Map<string, { count: number; resetAt: number }>();
  /** Keyed by `JSON.stringify([issuer, subject])`: no separator can make two pairs collide. */
  private readonly identities = new Map<string, IdentityLink>();
  /** Per user id, newest first. */
  private readonly audit = new Map<string, AuditEntry[]>();
  private readonly revokeListeners: ((id: string) => void)[] = [];
  private sweepAt = 0;

  constructor(private readonly clock: Clock) {}

  private sweep(): void {
    const now = this.clock.now();
    if (now < this.sweepAt) return;
    this.sweepAt = now + 60_000;
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.removeSession(id);
    for (const [hash, record] of this.tokens) if (record.expiresAt <= now) this.tokens.delete(hash);
    for (const [key, until] of this.used) if (until <= now) this.used.delete(key);
    for (const [key, mark] of this.linkFloors) if (mark.until <= now) this.linkFloors.delete(key);
    for (const [key, counter] of this.counters)
      if (counter.resetAt <= now) this.counters.delete(key);
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
    this.sweep();
    this.sessions.set(session.id, { ...session });
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
    return { ...session };
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
      if (session && session.expiresAt > now) out.push({ ...session });
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

  async putToken(hash: string, record: TokenRecord): Promise<void> {
    this.sweep();
    this.tokens.set(hash, { ...record });
  }

  async consumeToken(hash: string): Promise<TokenRecord | null> {
    const record = this.tokens.get(hash);
    if (!record) return null;
    this.tokens.delete(hash);
    return record.expiresAt > this.clock.now() ? record : null;
  }

  async peekToken(hash: string): Promise<TokenRecord | null> {
    const record = this.tokens.get(hash);
    return record && record.expiresAt > this.clock.now() ? { ...record } : null;
  }

  async markUsed(key: string, expiresAt: number): Promise<boolean> {
    this.sweep();
    const until = this.used.get(key);
    if (until !== undefined && until > this.clock.now()) return false;
    this.used.set(key, expiresAt);
    return true;
  }

  async nextLinkStamp(email: string, atLeast: number, keepMs: number | null): Promise<number> {
    this.sweep();
    const key = email.toLowerCase();
    const now = this.clock.now();
    const stamp = Math.max((this.linkFloors.get(key)?.floor ?? 0) + 1, atLeast);
    this.linkFloors.set(key, { floor: stamp, until: keepMs === null ? Infinity : now + keepMs });
    return stamp;
  }

  /** Past every link issued so far, this millisecond's included (a tie is refused). */
  private async voidLinks(email: string): Promise<void> {
    await this.nextLinkStamp(email, this.clock.now() + 1, null);
  }

  async raiseLinkFloor(email: string, stamp: number, keepMs: number): Promise<void> {
    const key = email.toLowerCase();
    const current = this.linkFloors.get(key);
    if (current && current.floor >= stamp) return;
    this.linkFloors.set(key, { floor: stamp, until: this.clock.now() + keepMs });
  }

  async getLinkFloor(email: string): Promise<number> {
    return this.linkFloors.get(email.toLowerCase())?.floor ?? 0;
  }

  async getUser(id: string): Promise<User | null> {
    const user = this.users.get(id);
    return user ? structuredClone(user) : null;
  }

  async getUserByEmail(email: string): Promise<User | null> {
    const id = this.emails.get(email.toLowerCase());
    return id ? this.getUser(id) : null;
  }

  async createUser(user: User): Promise<User> {
    const email = user.email.toLowerCase();
    const existing = this.emails.get(email);
    if (existing) return (await this.getUser(existing)) as User;
    const stored = structuredClone({ ...user, email });
    this.users.set(user.id, stored);
    this.emails.set(email, user.id);
    if (!stored.active) await this.voidLinks(email);
    return structuredClone(stored);
  }

  async updateUser(user: User): Promise<void> {
    const previous = this.users.get(user.id);
    const email = user.email.toLowerCase();
    const owner = this.emails.get(email);
    if (owner !== undefined && owner !== user.id) throw new EmailTakenError(email);
    if (previous && previous.email !== email) this.emails.delete(previous.email);
    this.users.set(user.id, structuredClone({ ...user, email }));
    this.emails.set(email, user.id);
    if (previous?.active && !user.active) {
      await this.voidLinks(previous.email);
      if (previous.email !== email) await this.voidLinks(email);
    }
  }

  async updateUserGroups(
    id: string,
    change: (groups: readonly string[]) => string[],
  ): Promise<boolean> {
    const user = this.users.get(id);
    if (!user) return false;
    const groups = change(user.groups);
    if (sameList(groups, user.groups)) return false;
    this.users.set(id, { ...user, groups: [...groups] });
    return true;
  }

  async listUsers(query: { search?: string; offset: number; limit: number }): Promise<UserPage> {
    const needle = query.search?.toLowerCase().trim();
    const all = [...this.users.values()]
      .filter((u) => !needle || u.email.includes(needle) || u.name.toLowerCase().includes(needle))
      .sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
    return {
      users: all.slice(query.offset, query.offset + query.limit).map((u) => structuredClone(u)),
      total: all.length,
    };
  }

  async deleteUser(id: string): Promise<void> {
    const user = this.users.get(id);
    if (!user) return;
    this.users.delete(id);
    if (this.emails.get(user.email) === id) this.emails.delete(user.email);
    this.audit.delete(id);
    await this.voidLinks(user.email);
  }

  async getGroup(id: string): Promise<Group | null> {
    const group = this.groups.get(id);
    return group ? structuredClone(group) : null;
  }

  async getGroupByName(displayName: string): Promise<Group | null> {
    const id = this.groupNames.get(displayName.toLowerCase());
    return id ? this.getGroup(id) : null;
  }

  async createGroup(group: Group): Promise<Group> {
    const name = group.displayName.toLowerCase();
    const existing = this.groupNames.get(name);
    if (existing) return (await this.getGroup(existing)) as Group;
    this.groups.set(group.id, structuredClone(group));
    this.groupNames.set(name, group.id);
    return structuredClone(group);
  }

  async updateGroup(group: Group): Promise<Group> {
    const previous = this.groups.get(group.id);
    if (!previous || previous.version !== group.version)
      throw new GroupVersionConflictError(group.id);
    const name = group.displayName.toLowerCase();
    const owner = this.groupNames.get(name);
    if (owner !== undefined && owner !== group.id) throw new GroupNameTakenError(group.displayName);
    const previousName = previous.displayName.toLowerCase();
    if (previousName !== name) this.groupNames.delete(previousName);
    const stored = { ...structuredClone(group), version: group.version + 1 };
    this.groups.set(group.id, stored);
    this.groupNames.set(name, group.id);
    return structuredClone(stored);
  }

  async deleteGroup(id: string): Promise<void> {
    const group = this.groups.get(id);
    if (!group) return;
    this.groups.delete(id);
    const name = group.displayName.toLowerCase();
    if (this.groupNames.get(name) === id) this.groupNames.delete(name);
  }

  async listGroups(query: { offset: number; limit: number }): Promise<GroupPage> {
    const key = (g: Group) => `${g.displayName.toLowerCase()}\u0000${g.id}`;
    const all = [...this.groups.values()].sort((a, b) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0,
    );
    return {
      groups: all.slice(query.offset, query.offset + query.limit).map((g) => structuredClone(g)),
      total: all.length,
    };
  }

  async getIdentity(issuer: string, subject: string): Promise<IdentityLink | null> {
    const link = this.identities.get(JSON.stringify([issuer, subject]));
    return link ? structuredClone(link) : null;
  }

  async linkIdentity(link: IdentityLink): Promise<IdentityLink> {
    const key = JSON.stringify([link.issuer, link.subject]);
    const existing = this.identities.get(key);
    if (existing) return structuredClone(existing);
    this.identities.set(key, structuredClone(link));
    return structuredClone(link);
  }

  async updateIdentity(link: IdentityLink): Promise<void> {
    const key = JSON.stringify([link.issuer, link.subject]);
    if (this.identities.has(key)) this.identities.set(key, structuredClone(link));
  }

  async unlinkIdentity(issuer: string, subject: string): Promise<void> {
    this.identities.delete(JSON.stringify([issuer, subject]));
  }

  async listUserIdentities(userId: string): Promise<IdentityLink[]> {
    return [...this.identities.values()]
      .filter((link) => link.userId === userId)
      .map((link) => structuredClone(link));
  }

  async appendAudit(userId: string, entry: AuditEntry): Promise<void> {
    const trail = this.audit.get(userId) ?? [];
    trail.unshift(structuredClone(entry));
    if (trail.length > AUDIT_KEEP) trail.length = AUDIT_KEEP;
    this.audit.set(userId, trail);
  }

  async listAudit(userId: string, limit: number): Promise<AuditEntry[]> {
    return (this.audit.get(userId) ?? [])
      .slice(0, Math.max(0, limit))
      .map((entry) => structuredClone(entry));
  }

  async hit(key: string, windowMs: number): Promise<number> {
    this.sweep();
    const now = this.clock.now();
    const counter = this.counters.get(key);
    if (!counter || counter.resetAt <= now) {
      this.counters.set(key, { count: 1, resetAt: now + windowMs });
      return 1;
    }
    counter.count += 1;
    return counter.count;
  }

  async ping(): Promise<void> {}

  async ready(): Promise<boolean> {
    return true;
  }

  onAvailability(_listener: (available: boolean) => void): void {}

  async close(): Promise<void> {}
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}
