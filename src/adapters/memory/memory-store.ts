import type { Clock } from '../../core/clock.js';
import { ComposedStore } from '../composed-store.js';
import { MemoryAppTokens } from './app-tokens.js';
import { MemoryAuditTrail } from './audit.js';
import { MemoryCounters } from './counters.js';
import { MemoryGroups } from './groups.js';
import { MemoryHealth } from './health.js';
import { MemoryIdentities } from './identities.js';
import { MemoryLinkFloors } from './link-floors.js';
import { MemoryPasskeys } from './passkeys.js';
import { MemorySecondFactors } from './second-factors.js';
import { MemorySessions } from './sessions.js';
import { Sweeper } from './sweeper.js';
import { MemoryTokens } from './tokens.js';
import { MemoryUsers } from './users.js';

/** Single-instance store. Expiry is checked against the injected clock on every read. */
export class MemoryStore extends ComposedStore {
  override readonly kind = 'memory' as const;

  /** `reservedUsernames`: names no account may be given (anonymous_user.id). */
  constructor(clock: Clock, options: { reservedUsernames?: readonly string[] } = {}) {
    // One sweep a minute over every port's expiring entries, as one store would.
    const sweeper = new Sweeper(clock);
    const sessions = new MemorySessions(clock, sweeper);
    const tokens = new MemoryTokens(clock, sweeper);
    const floors = new MemoryLinkFloors(clock, sweeper);
    const audit = new MemoryAuditTrail();
    super({
      sessions,
      tokens,
      appTokens: new MemoryAppTokens(clock, sweeper),
      floors,
      passkeys: new MemoryPasskeys(clock, sweeper),
      secondFactors: new MemorySecondFactors(),
      users: new MemoryUsers(floors, audit, options.reservedUsernames),
      groups: new MemoryGroups(),
      identities: new MemoryIdentities(),
      audit,
      counters: new MemoryCounters(clock, sweeper),
      health: new MemoryHealth(),
    });
  }
}
