/**
 * One entry of a user's recent activity, kept for the admin panel. Never a secret: no token,
 * cookie, password or link URL, and no session id (it names a bearer credential's record).
 */
export interface AuditEntry {
  /** Epoch milliseconds (the injected clock). */
  at: number;
  /** `auth.login`, `session.ended`, `admin.deactivate`, … (docs/admin-panel.md, "Audit log"). */
  event: string;
  outcome: 'success' | 'failure';
  /** Who did it: an email (the user or an admin), `scim`, `cli` or `anonymous`. */
  actor: string;
  ip: string | null;
  requestId: string | null;
  /** The event's own short facts (method, reason, via, …). */
  detail: Record<string, string | number | boolean>;
}

/** How many entries a user's trail keeps; older ones drop off as new ones arrive. */
export const AUDIT_KEEP = 100;

export interface AuditTrail {
  /** Puts the entry in front of the user's trail, which keeps only the newest AUDIT_KEEP. */
  appendAudit(userId: string, entry: AuditEntry): Promise<void>;
  /** Newest first; at most `limit` entries. `deleteUser` removes the trail with the user. */
  listAudit(userId: string, limit: number): Promise<AuditEntry[]>;
}
