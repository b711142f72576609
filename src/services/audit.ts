import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { AuditEntry, AuditTrail, User } from '../ports/store.js';

/** Why a sign-in failed; the person is told less than this (no account probing). */
export type LoginFailureReason =
  /** Wrong email or password (which of the two is not told apart, here either). */
  | 'bad_password'
  /** A wrong, malformed or replayed TOTP or recovery code after a right password. */
  | 'bad_second_factor'
  | 'deactivated'
  | 'rate_limited'
  | 'busy'
  /** A magic link that is used, expired, forged, or voided by a newer link or a deactivation. */
  | 'dead_link'
  /** The account may not sign in (deactivated, or refused when the session was to start). */
  | 'not_allowed'
  /** The provider's answer failed its checks (state, binding cookie, code, ID token). */
  | 'provider_error'
  /** The provider's account may not sign in here: signup policy, a refused link, its claims. */
  | 'refused'
  /**
   * A passkey sign-in refused; `detail` is the PasskeyRefusal (`unknown_credential`,
   * `counter_regressed`: a possibly cloned authenticator, `verification_failed`, ...).
   */
  | 'passkey_refused';

/** Why a step-up (a signed-in session proving a passkey or a one-time code) failed. */
export type StepUpFailureReason =
  /** A wrong, replayed or malformed TOTP or recovery code. */
  | 'bad_second_factor'
  | 'rate_limited'
  /** The passkey was refused; `detail` is the PasskeyRefusal (`wrong_user`: another user's). */
  | 'passkey_refused';

export type SessionEndReason =
  | 'logout'
  | 'everywhere'
  | 'admin'
  | 'deactivated'
  | 'email_changed'
  | 'deleted';

/** How a one-time link left: by mail, held back for an admin (manual mailer), the panel, the CLI. */
export type LinkVia = 'mail' | 'manual' | 'admin' | 'cli';

export type AdminAction =
  | 'login_url_issued'
  | 'deactivate'
  | 'activate'
  | 'logout_everywhere'
  | 'make_admin'
  | 'unmake_admin'
  | 'add_user'
  | 'set_password'
  | 'remove_password'
  | 'end_session'
  | 'create_group'
  | 'rename_group'
  | 'delete_group'
  | 'add_to_group'
  | 'remove_from_group'
  | 'set_username'
  | 'create_token'
  | 'revoke_token'
  | 'remove_passkey'
  | 'remove_all_passkeys'
  | 'reset_second_factor';

/** What a signed-in user changed on their own account page (`account.*`). */
export type AccountAction =
  | 'passkey_registered'
  | 'passkey_renamed'
  | 'passkey_removed'
  | 'totp_disabled'
  | 'recovery_codes_regenerated';

export type ScimAction =
  | 'create_user'
  | 'update_user'
  | 'change_email'
  | 'deactivate_user'
  | 'activate_user'
  | 'delete_user'
  | 'create_group'
  | 'update_group'
  | 'delete_group';

/** Short facts an admin or SCIM event carries (`sessions_ended`, `changed`, …); never a secret. */
export type AuditFacts = Record<string, string | number | boolean | string[]>;

export type AuditEvent =
  | { event: 'auth.login'; method: string }
  | { event: 'auth.login_failed'; method: string; reason: LoginFailureReason; detail?: string }
  /**
   * A signed-in session proved a factor a rule (or adding a passkey) asked for: `method` is
   * `passkey` or `otp`, `require` what was asked (`passkey`, `mfa`, `recent`); with `reason`
   * the step failed.
   */
  | {
      event: 'auth.step_up';
      method: string;
      require: string;
      reason?: StepUpFailureReason;
      detail?: string;
    }
  | { event: 'link.issued'; via: LinkVia }
  /** A sign-in mail did not go out; `reason` is classified for the admin ("SMTP authentication failed (535)"). */
  | { event: 'link.send_failed'; reason: string }
  | { event: 'session.created'; method: string }
  | { event: 'session.ended'; reason: SessionEndReason; sessions: number }
  | { event: `admin.${AdminAction}`; facts?: AuditFacts }
  | { event: `account.${AccountAction}`; facts?: AuditFacts }
  | { event: `scim.${ScimAction}`; facts?: AuditFacts };

/** Someone or something that is not a stored user: `scim`, `cli`, an address nobody has, a group. */
export interface AuditLabel {
  id: string | null;
  label: string;
}

export type AuditParty = User | AuditLabel;

/** Where the request came from; absent for work that no request started (the CLI). */
export interface AuditSource {
  ip: string;
  requestId: string;
}

export interface AuditRecord {
  actor: AuditParty;
  subject?: AuditParty | null;
  source?: AuditSource | null;
}

export const SCIM_ACTOR: AuditLabel = { id: null, label: 'scim' };
export const CLI_ACTOR: AuditLabel = { id: null, label: 'cli' };
export const ANONYMOUS_ACTOR: AuditLabel = { id: null, label: 'anonymous' };

/**
 * `session.ended` for `count` sessions an action (admin panel, SCIM) ended; nothing when there
 * were none, so a trail does not fill with empty endings.
 */
export async function recordSessionsEnded(
  audit: { record(event: AuditEvent, who: AuditRecord): Promise<void> },
  reason: SessionEndReason,
  count: number,
  who: AuditRecord,
): Promise<void> {
  if (count === 0) return;
  await audit.record({ event: 'session.ended', reason, sessions: count }, who);
}

function isUser(party: AuditParty): party is User {
  return 'email' in party;
}

const labelOf = (party: AuditParty) => (isUser(party) ? party.email : party.label);

/**
 * Events only logged, not put in the trail: after `scim.delete_user` the trail is gone with the
 * user (writing would leave an orphan), and `session.created` always comes with an `auth.login`
 * that the trail already shows (the trail's hundred entries go further without it).
 */
const LOG_ONLY = new Set<string>(['scim.delete_user', 'session.created']);

function factsOf(event: AuditEvent): AuditFacts {
  if ('facts' in event) return { ...event.facts };
  const facts: AuditFacts = {};
  for (const [key, value] of Object.entries(event))
    if (key !== 'event' && value !== undefined) facts[key] = value;
  return facts;
}

function trailDetail(facts: AuditFacts): AuditEntry['detail'] {
  const detail: AuditEntry['detail'] = {};
  for (const [key, value] of Object.entries(facts))
    detail[key] = Array.isArray(value) ? value.join(',') : value;
  return detail;
}

/**
 * The audit trail: every sign-in, failed sign-in, issued link, session start and end, admin
 * action and SCIM change, as one JSON line on a logger of its own (`audit: true`, a stable
 * `event`), and in the subject user's trail in the store for the admin panel.
 *
 * The audit logger logs at `info` whatever `log.level` says (only `silent` silences it): an
 * operator who turns the logs down to `warn` still wants to know who signed in. Lines name
 * people and addresses, never tokens, cookies, passwords, link URLs or session ids.
 *
 * `record` never rejects: the action it describes has happened, and a store that cannot take
 * the trail entry (down, slow) must not turn that into an error. The line is written first, so
 * the log has the event even then.
 */
export class AuditLog {
  private readonly out: Logger;

  /** `lines`: where the JSON lines go instead (the CLI, whose stdout is its answer, silences them). */
  constructor(
    private readonly trail: AuditTrail,
    private readonly clock: Clock,
    private readonly logger: Logger,
    lines?: Logger,
  ) {
    this.out =
      lines ??
      logger.child({ audit: true }, { level: logger.level === 'silent' ? 'silent' : 'info' });
  }

  async record(event: AuditEvent, who: AuditRecord): Promise<void> {
    const outcome: AuditEntry['outcome'] =
      event.event === 'auth.login_failed' ||
      event.event === 'link.send_failed' ||
      (event.event === 'auth.step_up' && event.reason !== undefined)
        ? 'failure'
        : 'success';
    const facts = factsOf(event);
    const { actor, subject = null, source = null } = who;
    const line: Record<string, unknown> = {
      event: event.event,
      outcome,
      actor: labelOf(actor),
      actor_id: actor.id,
      ...(subject ? { subject: labelOf(subject), subject_id: subject.id } : {}),
      ip: source?.ip ?? null,
      request_id: source?.requestId ?? null,
    };
    // The common fields come first and stay what they are: a fact never overwrites one.
    for (const [key, value] of Object.entries(facts)) if (!(key in line)) line[key] = value;
    this.out.info(line, `${event.event}${subject ? ` ${labelOf(subject)}` : ''}`);
    if (!subject || !isUser(subject) || LOG_ONLY.has(event.event)) return;
    try {
      await this.trail.appendAudit(subject.id, {
        at: this.clock.now(),
        event: event.event,
        outcome,
        actor: labelOf(actor),
        ip: source?.ip ?? null,
        requestId: source?.requestId ?? null,
        detail: trailDetail(facts),
      });
    } catch (error) {
      this.logger.warn(
        { event: event.event, subject_id: subject.id, err: error },
        'audit trail entry not stored; the action itself went through',
      );
    }
  }

  /**
   * `record` without waiting for the trail write, for answers whose timing must not tell
   * whether the subject has an account (a wrong password: only existing users get a trail entry).
   */
  recordUnawaited(event: AuditEvent, who: AuditRecord): void {
    // `record` never rejects, so nothing is left unhandled.
    void this.record(event, who);
  }

  /** The user's recent activity, newest first; null (with a warning) while the store is down. */
  async recent(userId: string, limit = 50): Promise<AuditEntry[] | null> {
    try {
      return await this.trail.listAudit(userId, limit);
    } catch (error) {
      this.logger.warn({ subject_id: userId, err: error }, 'audit trail could not be read');
      return null;
    }
  }
}
