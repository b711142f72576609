/*
 * The store's ports, one file each; this file gathers them into the one `Store` both adapters
 * implement (and keeps every name importable from here). A consumer that needs one port can
 * import its file.
 */
import type { AppTokenStore } from './app-tokens.js';
import type { AuditTrail } from './audit.js';
import type { Counters } from './counters.js';
import type { GroupDirectory } from './groups.js';
import type { IdentityDirectory } from './identities.js';
import type { LinkFloors } from './link-floors.js';
import type { PasskeyChallengeStore, PasskeyStore } from './passkeys.js';
import type { SecondFactorStore } from './second-factors.js';
import type { SessionStore } from './sessions.js';
import type { StoreHealth } from './store-health.js';
import type { TokenStore } from './tokens.js';
import type { UserDirectory } from './users.js';

export * from './app-tokens.js';
export * from './audit.js';
export * from './counters.js';
export * from './groups.js';
export * from './identities.js';
export * from './link-floors.js';
export * from './passkeys.js';
export * from './second-factors.js';
export * from './sessions.js';
export * from './store-health.js';
export * from './tokens.js';
export * from './users.js';

/**
 * The store could not be reached, was not ready, or did not answer in time: a transient outage
 * (HTTP 503), as opposed to a fault in the store's data or scripts (500). Adapters throw it with
 * the driver's error as `cause`; callers classify with `instanceof`, never by message.
 */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'StoreUnavailableError';
  }
}

export type Store = SessionStore &
  TokenStore &
  AppTokenStore &
  LinkFloors &
  PasskeyStore &
  PasskeyChallengeStore &
  SecondFactorStore &
  UserDirectory &
  GroupDirectory &
  IdentityDirectory &
  AuditTrail &
  Counters &
  StoreHealth;
