import type { Clock } from '../../core/clock.js';
import type { Client } from './client.js';
import type { Scripted } from './scripts.js';

/** What every port of the Redis store shares: one command client, its scripts, key names, time. */
export interface RedisContext {
  readonly client: Client;
  readonly scripts: Scripted;
  readonly clock: Clock;
  /** `<prefix><kind>:<id>`; each port owns its kinds (listed in the port's file). */
  key(kind: string, id: string): string;
  /** Milliseconds until `expiresAt` on the injected clock, at least 1 (a PX/PEXPIRE argument). */
  ttl(expiresAt: number): string;
}

export function createRedisContext(
  client: Client,
  scripts: Scripted,
  prefix: string,
  clock: Clock,
): RedisContext {
  return {
    client,
    scripts,
    clock,
    key: (kind, id) => `${prefix}${kind}:${id}`,
    ttl: (expiresAt) => String(Math.max(1, expiresAt - clock.now())),
  };
}
