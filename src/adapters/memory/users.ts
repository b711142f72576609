import { randomBytes } from 'node:crypto';
import { initialUsername, usernameCandidates, usernameKey } from '../../core/username.js';
import {
  EmailTakenError,
  type SetUsernameResult,
  type User,
  type UserDirectory,
  type UserInput,
  type UserPage,
} from '../../ports/users.js';
import { matches } from '../user-search.js';
import { type LinkVoider, voidLinksOnDeactivation } from '../void-links.js';
import type { MemoryAuditTrail } from './audit.js';

export class MemoryUsers implements UserDirectory {
  private readonly users = new Map<string, User>();
  /** Lower-cased email to user id. */
  private readonly emails = new Map<string, string>();
  /** `usernameKey` to user id. */
  private readonly usernames = new Map<string, string>();

  constructor(
    private readonly floors: LinkVoider,
    private readonly audit: Pick<MemoryAuditTrail, 'dropTrail'>,
    /** Names no account may get (anonymous_user.id: a user called so would pass as nobody). */
    private readonly reserved: readonly string[] = [],
  ) {}

  async getUser(id: string): Promise<User | null> {
    const user = this.users.get(id);
    return user ? structuredClone(user) : null;
  }

  async getUserByEmail(email: string): Promise<User | null> {
    const id = this.emails.get(email.toLowerCase());
    return id ? this.getUser(id) : null;
  }

  async getUserByUsername(username: string): Promise<User | null> {
    const id = this.usernames.get(usernameKey(username));
    return id ? this.getUser(id) : null;
  }

  async createUser(user: UserInput): Promise<User> {
    const email = user.email.toLowerCase();
    const existing = this.emails.get(email);
    if (existing) return (await this.getUser(existing)) as User;
    const base = initialUsername(user.username, email, this.reserved);
    let username = base;
    for (const candidate of usernameCandidates(
      base,
      () => randomBytes(3).toString('hex'),
      this.reserved,
    )) {
      if (!this.usernames.has(usernameKey(candidate))) {
        username = candidate;
        break;
      }
    }
    const stored: User = structuredClone({ ...user, email, username });
    this.users.set(user.id, stored);
    this.emails.set(email, user.id);
    this.usernames.set(usernameKey(username), user.id);
    if (!stored.active) await this.floors.voidLinks(email);
    return structuredClone(stored);
  }

  async updateUser(user: UserInput): Promise<void> {
    const previous = this.users.get(user.id);
    if (!previous) {
      // Not stored yet: an update that creates, as it always did (the username is made then).
      const created = await this.createUser(user);
      if (created.id !== user.id) throw new EmailTakenError(created.email);
      return;
    }
    const email = user.email.toLowerCase();
    const owner = this.emails.get(email);
    if (owner !== undefined && owner !== user.id) throw new EmailTakenError(email);
    if (previous.email !== email) this.emails.delete(previous.email);
    const next: User = structuredClone({ ...user, email, username: previous.username });
    this.users.set(user.id, next);
    this.emails.set(email, user.id);
    await voidLinksOnDeactivation(this.floors, previous, next, email);
  }

  async setUsername(id: string, username: string): Promise<SetUsernameResult> {
    const user = this.users.get(id);
    if (!user) return { kind: 'missing' };
    const key = usernameKey(username);
    const owner = this.usernames.get(key);
    if (owner !== undefined && owner !== id) return { kind: 'taken' };
    const oldKey = usernameKey(user.username);
    if (oldKey !== key && this.usernames.get(oldKey) === id) this.usernames.delete(oldKey);
    this.usernames.set(key, id);
    const next = { ...user, username };
    this.users.set(id, next);
    return { kind: 'ok', user: structuredClone(next) };
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
      .filter((u) => !needle || matches(u, needle))
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
    const key = usernameKey(user.username);
    if (this.usernames.get(key) === id) this.usernames.delete(key);
    this.audit.dropTrail(id);
    await this.floors.voidLinks(user.email);
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}
