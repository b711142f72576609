import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../core/clock.js';
import { PortcullisError } from '../../core/errors.js';
import type { SessionStore } from '../../ports/sessions.js';
import type { AppTokenService } from '../../services/app-tokens.js';
import type { AuditLog } from '../../services/audit.js';
import type { PasskeyService } from '../../services/passkeys.js';
import type { SecondFactorService } from '../../services/second-factor.js';
import type { LiveSession, SessionService } from '../../services/sessions.js';
import { auditSource } from '../audit-source.js';
import { readForm, refuseRepeated } from '../body.js';
import type { Handler, PageDeps } from '../handler.js';
import { type RecentProof, stepUpUrl } from '../login/step-up-recent.js';
import { redirect } from '../respond.js';
import { accountStepBody } from '../views/account-page.js';
import { isMessageKey, MESSAGES } from './account/messages.js';
import type { ActionContext, ActionOutcome } from './account/outcome.js';
import { passkeyAction, passkeyStep } from './account/passkeys.js';
import { renderAccount, requireSignedIn, sendAccountPage } from './account/render.js';
import { sessionAction } from './account/sessions.js';
import { tokenAction } from './account/tokens.js';
import { twoStepAction, twoStepStep } from './account/two-step.js';
import type { SessionReader } from './session-routes.js';

// Each section's steps and actions live under account/ (sessions, passkeys, two-step, tokens).
export { expiryChoices } from './account/tokens.js';

export interface AccountRouteDeps extends SessionReader, PageDeps {
  sessions: Pick<SessionService, 'resolve' | 'revoke'>;
  /** Lists the user's sessions (the same index the admin panel reads). */
  sessionList: Pick<SessionStore, 'listUserSessions'>;
  /** null when `tokens.enabled` is false: the page then has no tokens section. */
  appTokens: Pick<AppTokenService, 'create' | 'list' | 'revoke'> | null;
  audit: Pick<AuditLog, 'record'>;
  clock: Clock;
  /** Public base of portcullis' pages (origin + path prefix). */
  baseUrl: string;
  /** `tokens.max_lifetime`: the longest expiry the form offers. */
  maxTokenLifetimeMs: number;
  /** `auth.oidc.display_name`: how an `oidc` session is named. */
  oidcName: string;
  passkeys: Pick<PasskeyService, 'list' | 'rename' | 'remove'>;
  secondFactors: Pick<SecondFactorService, 'status' | 'disable' | 'regenerateRecoveryCodes'>;
  /** `passkey` is in `auth.enabled_auth`: the page lists passkeys and offers to add one. */
  passkeyEnabled: boolean;
  /** `basic` is in `auth.enabled_auth`: the page has the two-step section. */
  basicEnabled: boolean;
  /** `auth.basic.second_factor`. */
  secondFactor: 'off' | 'optional' | 'required';
  /** Fresh proofs (step-up-recent.ts): the changes in NEEDS_RECENT_PROOF ask for one first. */
  recent: RecentProof | null;
}

/**
 * Changes a stolen session cookie must not make without a fresh sign-in or step-up (GitHub's
 * "sudo mode"): a token or new recovery codes would outlive the stolen session, and removing a
 * passkey or turning two-step verification off weakens the account for its owner.
 */
const NEEDS_RECENT_PROOF: ReadonlySet<string> = new Set([
  'create_token',
  'regenerate_recovery_codes',
  'remove_passkey',
  'disable_totp',
]);

/** Whether this session must prove itself before `change`; if so, sends it to the step-up. */
async function askedForProof(
  deps: AccountRouteDeps,
  res: ServerResponse,
  live: LiveSession,
  change: string,
  back: string,
): Promise<boolean> {
  if (!NEEDS_RECENT_PROOF.has(change) || !deps.recent) return false;
  if (await deps.recent.isRecent(live.session)) return false;
  redirect(res, 303, stepUpUrl(deps.prefix, back, 'recent'));
  return true;
}

export interface AccountRoutes {
  /** GET /auth/account[?done=KEY] */
  page: Handler;
  /**
   * POST /auth/account — one action, then 303 back to the page with its message (a reload does
   * not repeat it); creating a token instead answers the page directly, the token on it once,
   * so the secret never travels in a URL, a Location header or a log.
   */
  action: Handler;
}

/** Each section's actions, in the order they are tried; each answers null for another's action. */
const SECTIONS = [sessionAction, passkeyAction, twoStepAction, tokenAction] as const;

export function accountRoutes(deps: AccountRouteDeps): AccountRoutes {
  return {
    async page(req, res, query) {
      const live = await requireSignedIn(deps, req, res);
      if (!live) return;
      // GET /auth/account?step=… : the page of one step (rename form, or "are you sure?"), or a
      // message when the step does not apply (shown on the account page as `done`). A step that
      // leads to a change needing a fresh proof asks for it first, and comes back here after.
      const stepName = query.get('step') ?? '';
      const here = new URLSearchParams({ step: stepName });
      if (query.has('passkey')) here.set('passkey', (query.get('passkey') ?? '').slice(0, 2048));
      if (await askedForProof(deps, res, live, stepName, `${deps.prefix}/account?${here}`)) return;
      const step =
        (await passkeyStep(deps, live.user.id, query)) ??
        (await twoStepStep(deps, live.user.id, query));
      if (step !== null && typeof step === 'object') {
        const csrf = deps.csrf.token(req);
        const body = accountStepBody({ prefix: deps.prefix, csrf: csrf.token, step });
        sendAccountPage(deps, req, res, 200, body, csrf.setCookie);
        return;
      }
      const done = step ?? query.get('done') ?? '';
      const message = isMessageKey(done) ? MESSAGES[done] : null;
      await renderAccount(deps, req, res, live, { message, issued: null, draft: null });
    },
    action: (req, res) => accountAction(deps, req, res),
  };
}

async function accountAction(
  deps: AccountRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = await readForm(req);
  refuseRepeated(form, ['action', 'session', 'token', 'name', 'expires', 'passkey', 'confirm']);
  // The session-bound token and no cross-site Fetch metadata, as the admin panel: these
  // actions sign devices out and mint credentials, so a forged one must never pass.
  deps.csrf.requireSessionToken(req, form);
  const live = await requireSignedIn(deps, req, res);
  if (!live) return;
  const action = form.get('action') ?? '';
  // Without a fresh proof the change is not made: after the step-up the person is back on the
  // account page and asks again.
  if (await askedForProof(deps, res, live, action, `${deps.prefix}/account`)) return;
  const who = { actor: live.user, subject: live.user, source: auditSource(deps.proxies, req) };
  const context: ActionContext = { deps, form, live, who };
  let outcome: ActionOutcome | null = null;
  for (const section of SECTIONS) {
    outcome = await section(context, action);
    if (outcome !== null) break;
  }
  if (outcome === null)
    throw new PortcullisError('bad_request', `unknown account action ${action.slice(0, 40)}`);
  if (outcome.kind === 'back') redirect(res, 303, `${deps.prefix}/account?done=${outcome.done}`);
  else if (outcome.kind === 'ask') redirect(res, 303, outcome.location);
  else await renderAccount(deps, req, res, live, outcome.state, outcome.status);
}
