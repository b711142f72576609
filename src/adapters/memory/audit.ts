import { AUDIT_KEEP, type AuditEntry, type AuditTrail } from '../../ports/audit.js';

export class MemoryAuditTrail implements AuditTrail {
  /** Per user id, newest first. */
  private readonly trails = new Map<string, AuditEntry[]>();

  async appendAudit(userId: string, entry: AuditEntry): Promise<void> {
    const trail = this.trails.get(userId) ?? [];
    trail.unshift(structuredClone(entry));
    if (trail.length > AUDIT_KEEP) trail.length = AUDIT_KEEP;
    this.trails.set(userId, trail);
  }

  async listAudit(userId: string, limit: number): Promise<AuditEntry[]> {
    return (this.trails.get(userId) ?? [])
      .slice(0, Math.max(0, limit))
      .map((entry) => structuredClone(entry));
  }

  /** Removes the user's whole trail (`deleteUser`), synchronously: nothing can slip in between. */
  dropTrail(userId: string): void {
    this.trails.delete(userId);
  }
}
