import { AUDIT_KEEP, type AuditEntry, type AuditTrail } from '../../ports/audit.js';
import type { RedisContext } from './context.js';

/**
 * A trail untouched this long goes: only memory reclaim (a user's trail is removed with the
 * user, but an entry racing a deletion could otherwise leave one behind for good).
 */
const AUDIT_RETENTION_MS = 365 * 24 * 3600 * 1000;

/** Keys: `audit:<userId>` a user's trail, a list of JSON entries, newest first. */
export class RedisAuditTrail implements AuditTrail {
  constructor(private readonly ctx: RedisContext) {}

  async appendAudit(userId: string, entry: AuditEntry): Promise<void> {
    await this.ctx.scripts.psAppendAudit(
      this.ctx.key('audit', userId),
      JSON.stringify(entry),
      String(AUDIT_KEEP),
      String(AUDIT_RETENTION_MS),
    );
  }

  async listAudit(userId: string, limit: number): Promise<AuditEntry[]> {
    if (limit <= 0) return [];
    const rows = await this.ctx.client.lrange(this.ctx.key('audit', userId), 0, limit - 1);
    return rows.map((row) => JSON.parse(row) as AuditEntry);
  }

  /** Removes the user's whole trail (`deleteUser`). */
  async dropTrail(userId: string): Promise<void> {
    await this.ctx.client.del(this.ctx.key('audit', userId));
  }
}
