import type { User } from '../ports/store.js';
import {
  type AdminAction,
  type AuditFacts,
  type AuditLog,
  type AuditSource,
  recordSessionsEnded,
  type SessionEndReason,
} from './audit.js';

/** Records an admin action (`admin.<action>`) naming who did it to whom. */
export async function logAdminAction(
  audit: Pick<AuditLog, 'record'>,
  actor: User,
  action: AdminAction,
  target: User,
  source: AuditSource | null,
  facts: AuditFacts = {},
): Promise<void> {
  await audit.record({ event: `admin.${action}`, facts }, { actor, subject: target, source });
}

/** Records the sessions an admin action ended. */
export function logSessionsEnded(
  audit: Pick<AuditLog, 'record'>,
  actor: User,
  target: User,
  reason: SessionEndReason,
  count: number,
  source: AuditSource | null,
): Promise<void> {
  return recordSessionsEnded(audit, reason, count, { actor, subject: target, source });
}
