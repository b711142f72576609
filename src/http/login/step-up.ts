import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RedirectPolicy } from '../../core/redirect.js';
import type { AuditLog } from '../../services/audit.js';
import type { PasskeyService } from '../../services/passkeys.js';
import type { RateLimiter } from '../../services/rate-limit.js';
import type { SecondFactorService } from '../../services/second-factor.js';
import type { LiveSession, SessionService } from '../../services/sessions.js';
import type { PageDeps } from '../handler.js';
import type { SessionReader } from '../routes/session-routes.js';
import type { PageMessage } from '../views/login-page.js';
import type { StepUpNeed } from '../views/step-up-page.js';
import type { LoginMethod, LoginRoute } from './method.js';
import type { RecentProof } from './step-up-recent.js';

export { stepUpUrl } from './step-up-recent.js';

import { stepUpKit } from './step-up-kit.js';
import { stepUpPasskeyRoutes } from './step-up-passkey.js';
import { stepUpTotpRoute } from './step-up-totp.js';

export type { StepUpNeed } from '../views/step-up-page.js';

export { parseStepUp } from './step-up-need.js';
export { STEP_UP_OPTIONS_LIMIT } from './step-up-passkey.js';

/*
 * The step-up: a signed-in session that lacks a factor proves it, and the session gains it.
 *
 *   GET  <prefix>/login?rd=…&step_up=passkey|mfa|recent   the page (page.ts hands it over)
 *   POST <prefix>/passkey/step-up/options   → { options }   bound to the session's user
 *   POST <prefix>/passkey/step-up?need=     { response, rd } → { redirect }
 *   POST <prefix>/totp/step-up              form: code or recovery_code, rd, need, csrf
 *
 * `passkey` and `mfa` come from a rule's `require` (the check puts them in the login URL);
 * `recent` is asked before adding a passkey with a session that did not sign in or step up in
 * the last 15 minutes (see step-up-recent.ts). The JSON calls are checked like the other passkey
 * calls (our exact Origin, JSON only, the session-bound CSRF token in X-CSRF-Token); the form
 * needs the session-bound token too. Codes count against the user's second-factor limit.
 */

export interface StepUpDeps extends PageDeps {
  session: SessionReader;
  sessions: Pick<SessionService, 'stepUp'>;
  /** Null when passkeys are not enabled: no passkey is offered. */
  passkeys: Pick<PasskeyService, 'authenticationOptions' | 'verifyAuthentication' | 'list'> | null;
  secondFactor: Pick<SecondFactorService, 'hasSecondFactor' | 'verifyTotp' | 'useRecoveryCode'>;
  recent: RecentProof;
  audit: Pick<AuditLog, 'record'>;
  limiter: Pick<RateLimiter, 'hit'>;
  redirectPolicy: RedirectPolicy;
  /** Origins a passkey call may come from: public_url's. */
  origins: readonly string[];
  secureCookies: boolean;
  challengeTtlMs: number;
  /** The enabled login methods (built after this): the passkey scripts, the magic-link form. */
  methods: () => readonly LoginMethod[];
}

export interface StepUpState {
  status?: number;
  message?: PageMessage;
  failed?: 'code' | 'recovery';
  headers?: string[];
}

export interface StepUp {
  /** The step-up page for a signed-in session. */
  render(
    req: IncomingMessage,
    res: ServerResponse,
    live: LiveSession,
    need: StepUpNeed,
    rd: string,
    state?: StepUpState,
  ): Promise<void>;
  readonly routes: readonly LoginRoute[];
}

export function createStepUp(deps: StepUpDeps): StepUp {
  const kit = stepUpKit(deps);
  return {
    render: kit.render,
    routes: [...stepUpPasskeyRoutes(deps, kit), stepUpTotpRoute(deps, kit)],
  };
}
