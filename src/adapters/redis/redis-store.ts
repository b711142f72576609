import { ComposedStore } from '../composed-store.js';
import { RedisAppTokens } from './app-tokens.js';
import { RedisAuditTrail } from './audit.js';
import { createClient, createCommandClient, type RedisStoreOptions } from './client.js';
import { createRedisContext } from './context.js';
import { RedisCounters } from './counters.js';
import { RedisGroups } from './groups.js';
import { RedisHealth } from './health.js';
import { RedisIdentities } from './identities.js';
import { RedisLinkFloors } from './link-floors.js';
import { RedisPasskeys } from './passkeys.js';
import { defineScripts } from './scripts.js';
import { RedisSecondFactors } from './second-factors.js';
import { RedisSessions } from './sessions.js';
import { RedisTokens } from './tokens.js';
import { RedisUsers } from './users.js';

export type { RedisStoreOptions } from './client.js';

/**
 * Store shared by several instances through Redis; revocations travel over pub/sub. Two
 * connections: the command client every port uses, and a subscriber that hears revocations.
 */
export class RedisStore extends ComposedStore {
  override readonly kind = 'redis' as const;
  private readonly connections: RedisHealth;

  constructor(options: RedisStoreOptions) {
    const client = createCommandClient(options);
    const ctx = createRedisContext(client, defineScripts(client), options.keyPrefix, options.clock);
    const subscriber = createClient(options);
    const channel = `${options.keyPrefix}revoked`;
    const health = new RedisHealth(client, subscriber, channel);
    const floors = new RedisLinkFloors(ctx);
    const audit = new RedisAuditTrail(ctx);
    super({
      sessions: new RedisSessions(ctx, subscriber, channel),
      tokens: new RedisTokens(ctx),
      appTokens: new RedisAppTokens(ctx),
      floors,
      passkeys: new RedisPasskeys(ctx),
      secondFactors: new RedisSecondFactors(ctx),
      users: new RedisUsers(ctx, floors, audit, options.reservedUsernames),
      groups: new RedisGroups(ctx),
      identities: new RedisIdentities(ctx),
      audit,
      counters: new RedisCounters(ctx),
      health,
    });
    this.connections = health;
  }

  /** Resolves once both connections are up, or rejects after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<void> {
    return this.connections.waitUntilReady(timeoutMs);
  }
}
