import {
  type AuditEvent,
  type AuditFacts,
  type AuditParty,
  type AuditRecord,
  type AuditSource,
  recordSessionsEnded,
  SCIM_ACTOR,
  type ScimAction,
  type SessionEndReason,
} from '../services/audit.js';

/** The one method of the audit log SCIM writes through. */
export interface AuditRecorder {
  record(event: AuditEvent, who: AuditRecord): Promise<void>;
}

/**
 * Every SCIM change is an audit event (`scim.*`, `actor: "scim"`), like the admin panel's;
 * `source` is the request's.
 */
export async function recordScim(
  audit: AuditRecorder,
  action: ScimAction,
  subject: AuditParty,
  source: AuditSource | null,
  facts: AuditFacts = {},
): Promise<void> {
  await audit.record({ event: `scim.${action}`, facts }, { actor: SCIM_ACTOR, subject, source });
}

/** The `session.ended` event for sessions a SCIM change ended (none: no event). */
export function recordScimSessionsEnded(
  audit: AuditRecorder,
  subject: AuditParty,
  reason: SessionEndReason,
  count: number,
  source: AuditSource | null,
): Promise<void> {
  return recordSessionsEnded(audit, reason, count, { actor: SCIM_ACTOR, subject, source });
}
