import type { User } from '../../ports/store.js';
import type { AdminOutcome, AdminService, BulkAction } from '../../services/admin.js';
import type { AuditSource } from '../../services/audit.js';
import { type BulkPlan, type BulkTarget, type SkipReason, skipText } from '../views/admin-bulk.js';

/** As the service: at most this many ticked users per request. */
const MAX_TICKED = 200;

/** Actions that always ask first, even when they fit everyone ticked. */
const ASK_FIRST: ReadonlySet<BulkAction> = new Set(['deactivate', 'logout_everywhere']);

/** A ticked user with what the fit depends on. */
export interface TickedUser extends BulkTarget {
  active: boolean;
  /** `admin: true` on the record (made admin in the panel). */
  panelAdmin: boolean;
  /** Admin through `admin.emails` / `admin.groups`. */
  configAdmin: boolean;
}

/** Why `action` does not fit `user`, or null when it does. */
export function skipReason(action: BulkAction, user: TickedUser): SkipReason | null {
  switch (action) {
    case 'login_url':
      return user.active ? null : 'deactivated';
    case 'deactivate':
      if (user.self) return 'self';
      return user.active ? null : 'already_deactivated';
    case 'activate':
      return user.active ? 'already_active' : null;
    case 'logout_everywhere':
      return user.sessions > 0 ? null : 'no_sessions';
    case 'make_admin':
      if (user.configAdmin) return 'config_admin';
      return user.panelAdmin ? 'already_admin' : null;
    case 'unmake_admin':
      if (user.self) return 'self';
      if (user.configAdmin) return 'config_admin';
      return user.panelAdmin ? null : 'not_admin';
  }
}

/** Splits the ticked users into those the action fits and those it skips (pure). */
export function planBulk(
  action: BulkAction,
  ticked: readonly TickedUser[],
  missing: number,
): BulkPlan {
  const plan: BulkPlan = { action, fits: [], skips: [], missing };
  for (const user of ticked) {
    const reason = skipReason(action, user);
    const target: BulkTarget = {
      id: user.id,
      email: user.email,
      sessions: user.sessions,
      tokens: user.tokens,
      self: user.self,
    };
    if (reason) plan.skips.push({ target, reason });
    else plan.fits.push(target);
  }
  return plan;
}

/** Whether the plan is shown for confirmation before anything changes. */
export function needsConfirmation(plan: BulkPlan): boolean {
  return ASK_FIRST.has(plan.action) || plan.skips.length > 0 || plan.missing > 0;
}

/** Reads the ticked users (once each, at most MAX_TICKED) with their sessions and tokens. */
export async function readTicked(
  admin: Pick<AdminService, 'userDetail' | 'accounts'>,
  ids: readonly string[],
  actorId: string,
  now: number,
): Promise<{ ticked: TickedUser[]; missing: number }> {
  const ticked: TickedUser[] = [];
  let missing = 0;
  for (const id of [...new Set(ids)].slice(0, MAX_TICKED)) {
    const detail = await admin.userDetail(id.slice(0, 200));
    if (!detail) {
      missing++;
      continue;
    }
    const { user } = detail.row;
    const tokens = admin.accounts.tokensEnabled
      ? (await admin.accounts.listTokens(user.id)).filter(
          (t) => t.expiresAt === null || t.expiresAt > now,
        ).length
      : null;
    ticked.push({
      id: user.id,
      email: user.email,
      sessions: detail.sessions.length,
      tokens,
      self: user.id === actorId,
      active: user.active,
      panelAdmin: user.admin === true,
      configAdmin: detail.row.adminByConfig,
    });
  }
  return { ticked, missing };
}

/** A bulk request's answer: the plan to confirm, or what was done. */
export type BulkStep = { kind: 'ask'; plan: BulkPlan } | { kind: 'done'; outcome: AdminOutcome };

/**
 * One bulk request (the list's menu or a button on a user's page). Every ticked user is read
 * first and the action is applied only to those it fits. When it ends sessions or leaves anyone
 * out, the plan is answered instead, and only a form with `confirm=yes` changes anything; users
 * that stopped fitting since the question are named in the result, never changed.
 */
export async function runBulk(
  admin: Pick<AdminService, 'userDetail' | 'accounts' | 'bulk'>,
  actor: User,
  action: BulkAction,
  form: URLSearchParams,
  source: AuditSource | null,
  now: number,
): Promise<BulkStep> {
  const { ticked, missing } = await readTicked(admin, form.getAll('user'), actor.id, now);
  const plan = planBulk(action, ticked, missing);
  // Nothing ticked: the service says so.
  const nothingTicked = ticked.length + missing === 0;
  if (form.get('confirm') !== 'yes' && !nothingTicked && needsConfirmation(plan))
    return { kind: 'ask', plan };
  const outcome: AdminOutcome =
    plan.fits.length > 0 || nothingTicked
      ? await admin.bulk(
          actor,
          action,
          plan.fits.map((t) => t.id),
          source,
        )
      : { notices: [], links: [] };
  for (const skip of plan.skips)
    outcome.notices.push({
      kind: 'info',
      text: `Skipped ${skip.target.email}: ${skipText(action, skip.reason)}.`,
    });
  if (missing > 0)
    outcome.notices.push({ kind: 'error', text: 'One of the ticked users no longer exists.' });
  return { kind: 'done', outcome };
}
