import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SafeHtml } from '../../../html.js';
import type { LiveSession } from '../../../services/sessions.js';
import { renderPage } from '../../pages.js';
import { redirect, sendJson, wantsJson } from '../../respond.js';
import { accountPageBody } from '../../views/account-page.js';
import type { AccountRouteDeps } from '../account.js';
import { currentSession } from '../session-routes.js';
import type { RenderState } from './outcome.js';
import { passkeyRows } from './passkeys.js';
import { expiryChoices, tokenRow } from './tokens.js';

/**
 * The signed-in user's live session, or null after answering: no session → the login page with
 * rd back here (401 JSON for API clients).
 */
export async function requireSignedIn(
  deps: AccountRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<LiveSession | null> {
  const lookup = await currentSession(deps, req);
  if (lookup?.kind === 'valid') return lookup.live;
  const login = `${deps.prefix}/login?rd=${encodeURIComponent(`${deps.baseUrl}/account`)}`;
  if (wantsJson(req)) sendJson(req, res, 401, { error: 'unauthenticated', login_url: login });
  else redirect(res, 303, login);
  return null;
}

/** Sends a page of the account area with the CSRF cookie when the token is new. */
export function sendAccountPage(
  deps: AccountRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: SafeHtml,
  setCookie: string | null | undefined,
): void {
  // PAGE_HEADERS (via sendHtml) carry `Cache-Control: no-store`: a page that shows a new
  // token or recovery codes must not be kept by the browser or any cache on the way.
  const headers = setCookie ? ['Set-Cookie', setCookie] : [];
  renderPage(deps.chrome, req, res, status, 'Your account', body, headers, { wide: true });
}

/** The account page: every section's list loaded, with `state` (a message, a new token, ...). */
export async function renderAccount(
  deps: AccountRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  live: LiveSession,
  state: RenderState,
  status = 200,
): Promise<void> {
  const { user, session } = live;
  const csrf = deps.csrf.token(req);
  const [sessions, tokens, passkeys, twoStep] = await Promise.all([
    deps.sessionList.listUserSessions(user.id),
    deps.appTokens ? deps.appTokens.list(user.id) : Promise.resolve(null),
    passkeyRows(deps, user.id),
    deps.basicEnabled ? deps.secondFactors.status(user.id) : Promise.resolve(null),
  ]);
  const expiry = expiryChoices(deps.maxTokenLifetimeMs);
  const body = accountPageBody({
    prefix: deps.prefix,
    csrf: csrf.token,
    now: deps.clock.now(),
    user: { email: user.email, name: user.name, username: user.username },
    currentSessionId: session.id,
    sessions,
    tokens: tokens ? tokens.map(tokenRow) : null,
    issued: state.issued,
    message: state.message,
    expiryChoices: expiry.choices,
    defaultExpiry: expiry.defaultValue,
    draft: state.draft,
    oidcName: deps.oidcName,
    passkeys,
    passkeyEnrolment: deps.passkeyEnabled,
    twoStep: twoStep
      ? {
          totp: twoStep.totp,
          confirmedAt: twoStep.confirmedAt,
          recoveryCodesLeft: twoStep.recoveryCodesLeft,
          required: deps.secondFactor === 'required',
        }
      : null,
    recoveryCodes: state.recoveryCodes ?? null,
  });
  sendAccountPage(deps, req, res, status, body, csrf.setCookie);
}
