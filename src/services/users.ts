import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { checkUsername, initialUsername, type UsernameProblem } from '../core/username.js';
import type { Store, User } from '../ports/store.js';

export interface AdminSettings {
  emails: readonly string[];
  groups: readonly string[];
}

/** What renaming a user came to (`UserService.setUsername`). */
export type SetUsernameOutcome =
  | { kind: 'ok'; user: User }
  /** Not a username (docs/usernames.md): empty, too long, a character it may not hold, reserved. */
  | { kind: 'invalid'; problem: UsernameProblem }
  /** Another user has it, in any case. */
  | { kind: 'taken' }
  | { kind: 'missing' };

export interface UserServiceOptions {
  /**
   * Names no account may have (`anonymous_user.id`): refused by `setUsername`, skipped when a
   * new account's username is made from its email.
   */
  reservedUsernames?: readonly string[];
}

export class UserService {
  private readonly adminEmails: Set<string>;
  private readonly reserved: readonly string[];

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly admin: AdminSettings,
    options: UserServiceOptions = {},
  ) {
    this.adminEmails = new Set(admin.emails.map((e) => e.toLowerCase()));
    this.reserved = options.reservedUsernames ?? [];
  }

  /** Returns the user with this (normalised) email, creating an unverified one if there is none. */
  async findOrCreate(email: string, name?: string): Promise<User> {
    const existing = await this.store.getUserByEmail(email);
    if (existing) return existing;
    return this.store.createUser({
      id: randomUUID(),
      // A wish: the store takes it, or the first free variant of it.
      username: initialUsername(null, email, this.reserved),
      email,
      name: name ?? (email.split('@')[0] as string),
      groups: [],
      active: true,
      verified: false,
      createdAt: this.clock.now(),
      lastLoginAt: null,
    });
  }

  /**
   * Marks the user verified and records the login time. Re-reads the record first, so a
   * deactivation that landed while the person was signing in is never written back as active;
   * null when the user is gone or inactive (the caller refuses the login).
   */
  async recordLogin(user: User): Promise<User | null> {
    const fresh = await this.store.getUser(user.id);
    if (!fresh?.active) return null;
    const updated = { ...fresh, verified: true, lastLoginAt: this.clock.now() };
    await this.store.updateUser(updated);
    return updated;
  }

  /**
   * An admin renames a user: `username` is NFKC-normalised and trimmed, then checked
   * (`checkUsername`) and claimed. The caller refreshes the user's cached sessions on `ok`, so
   * the identity headers carry the new name at once, and writes the audit event.
   */
  async setUsername(userId: string, username: string): Promise<SetUsernameOutcome> {
    const check = checkUsername(username, this.reserved);
    if (!check.ok) return { kind: 'invalid', problem: check.problem };
    return this.store.setUsername(userId, check.username);
  }

  isAdmin(user: Pick<User, 'email' | 'groups' | 'admin'>): boolean {
    if (user.admin) return true;
    if (this.adminEmails.has(user.email.toLowerCase())) return true;
    return user.groups.some((g) => this.admin.groups.includes(g));
  }
}
