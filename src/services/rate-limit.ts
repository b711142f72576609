import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Counters } from '../ports/store.js';

export interface RateLimitRule {
  /** Names the counter family, e.g. `magic_link:ip`. */
  name: string;
  limit: number;
  windowMs: number;
}

export type RateLimitResult = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * Fixed-window limits counted in the store, so every instance sharing it sees the same counts.
 * Windows are aligned to the clock (the window number is part of the key): that makes the
 * moment a limit lifts known without a second store call, for "try again in N minutes".
 */
export class RateLimiter {
  constructor(
    private readonly counters: Counters,
    private readonly clock: Clock,
  ) {}

  async hit(rule: RateLimitRule, subject: string): Promise<RateLimitResult> {
    const now = this.clock.now();
    const window = Math.floor(now / rule.windowMs);
    // Subjects are hashed: addresses and IPs do not belong in key names an operator lists.
    const digest = createHash('sha256').update(subject).digest('base64url').slice(0, 22);
    const count = await this.counters.hit(`rl:${rule.name}:${window}:${digest}`, rule.windowMs);
    if (count <= rule.limit) return { allowed: true };
    return { allowed: false, retryAfterMs: (window + 1) * rule.windowMs - now };
  }

  /** Counts against every rule in order and stops at the first one exceeded. */
  async hitAll(checks: readonly [RateLimitRule, string][]): Promise<RateLimitResult> {
    for (const [rule, subject] of checks) {
      const result = await this.hit(rule, subject);
      if (!result.allowed) return result;
    }
    return { allowed: true };
  }
}
