import {
  EmailTakenError,
  type User,
  type UserDirectory,
  type UserPage,
} from '../../ports/users.js';
import { type LinkVoider, voidLinksOnDeactivation } from '../void-links.js';
import type { MemoryAuditTrail } from './audit.js';

export class MemoryUsers implements UserDirectory {
  private readonly users = new Map<string, User>();
  /** Lower-cased email to user id. */
  private readonly emails = new Map<string, string>();

  constructor(
    private readonly floors: LinkVoider,
    private readonly audit: Pick<MemoryAuditTrail, 'dropTrail'>,
  ) {}

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
    if (!stored.active) await this.floors.voidLinks(email);
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
    await voidLinksOnDeactivation(this.floors, previous, user, email);
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
    this.audit.dropTrail(id);
    await this.floors.voidLinks(user.email);
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}
