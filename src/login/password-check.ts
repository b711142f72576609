import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { normalizeEmail } from '../core/email.js';
import { hashPassword, verifyPassword } from '../core/password.js';
import type { Store, User } from '../ports/store.js';
import type { StaticUser } from '../services/passwords.js';
import { RateLimiter, type RateLimitRule } from '../services/rate-limit.js';

/** Guessing budget per account: across every address and instance (the counters are shared). */
export const ACCOUNT_LIMIT: RateLimitRule = {
  name: 'basic:account',
  limit: 10,
  windowMs: 15 * 60_000,
};
/** Per client address: enough for an office behind one NAT, not for a dictionary. */
export const IP_LIMIT: RateLimitRule = { name: 'basic:ip', limit: 50, windowMs: 15 * 60_000 };

export type PasswordOutcome =
  | { kind: 'ok'; user: User; created: boolean }
  /**
   * Unknown address, wrong or empty password, no password set: one answer for all. `user` is
   * the account the address names, for the audit trail only: never tell the person.
   */
  | { kind: 'invalid'; user: User | null }
  /** Right password, deactivated account (said only after the password proved who asks). */
  | { kind: 'deactivated'; user: User }
  | { kind: 'throttled'; retryAfterMs: number }
  /** Too many hashes already running or queued on this instance. */
  | { kind: 'busy' };

/** Bounds concurrent scrypt runs (each takes ~32 MiB and tens of ms of a core). */
class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly concurrency: number,
    private readonly maxQueue: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T | null> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueue) return null;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running += 1;
    try {
      return await task();
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }
}

/**
 * Checks an email + password. Every attempt counts against the account and the client address
 * before any hashing, so a burst is cut off by the store's atomic counters, not by how fast
 * scrypt runs. Unknown addresses, accounts without a password and malformed input all go
 * through one scrypt run against a dummy hash with the default parameters: the answer and its
 * timing are those of a wrong password (OWASP ASVS 2.2.1 / 3.2.2: no account enumeration).
 */
export class PasswordChecker {
  private readonly limiter: RateLimiter;
  private readonly staticUsers: Map<string, string>;
  private readonly dummy: Promise<string>;
  private readonly gate: Gate;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    staticUsers: readonly StaticUser[],
    options: { concurrency?: number; maxQueue?: number } = {},
  ) {
    this.limiter = new RateLimiter(store, clock);
    this.staticUsers = new Map();
    for (const user of staticUsers) {
      const email = normalizeEmail(user.email);
      if (email) this.staticUsers.set(email, user.password_hash);
    }
    // A hash of a random secret nobody knows: verifying against it always fails, at full cost.
    this.dummy = hashPassword(randomBytes(32).toString('base64url'));
    this.gate = new Gate(options.concurrency ?? 4, options.maxQueue ?? 64);
  }

  /** Whether this address's password comes from `auth.basic.users` (the admin panel cannot change it). */
  isStatic(email: string): boolean {
    return this.staticUsers.has(email.toLowerCase());
  }

  async check(rawEmail: string, password: string, ip: string): Promise<PasswordOutcome> {
    const typed = rawEmail.trim().toLowerCase().slice(0, 254);
    const email = normalizeEmail(typed);
    const limited = await this.limiter.hitAll([
      [ACCOUNT_LIMIT, email ?? typed],
      [IP_LIMIT, ip],
    ]);
    if (!limited.allowed) return { kind: 'throttled', retryAfterMs: limited.retryAfterMs };

    const user = email ? await this.store.getUserByEmail(email) : null;
    const configured = email ? this.staticUsers.get(email) : undefined;
    const stored = configured ?? user?.passwordHash;
    const hash = stored ?? (await this.dummy);
    const match = await this.gate.run(() => verifyPassword(password, hash));
    if (match === null) return { kind: 'busy' };
    if (!match || stored === undefined || password.length === 0 || !email)
      return { kind: 'invalid', user };

    if (user)
      return user.active ? { kind: 'ok', user, created: false } : { kind: 'deactivated', user };
    // A static user signing in for the first time gets an account record.
    const created = await this.store.createUser({
      id: randomUUID(),
      email,
      name: email.split('@')[0] as string,
      groups: [],
      active: true,
      verified: true,
      createdAt: this.clock.now(),
      lastLoginAt: null,
    });
    return created.active
      ? { kind: 'ok', user: created, created: true }
      : { kind: 'deactivated', user: created };
  }
}
