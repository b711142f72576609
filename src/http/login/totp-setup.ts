import type { IncomingMessage, ServerResponse } from 'node:http';
import { html } from '../../html.js';
import type { SecondFactorService } from '../../services/second-factor.js';
import type { LiveSession, SessionService } from '../../services/sessions.js';
import { readForm, refuseRepeated } from '../body.js';
import type { Handler, PageDeps } from '../handler.js';
import { renderPage } from '../pages.js';
import { redirect, sendJson, wantsJson } from '../respond.js';
import { currentSession } from '../routes/session-routes.js';
import type { SessionCookie } from '../session-cookie.js';
import type { PageMessage } from '../views/login-page.js';
import type { LoginRoute } from './method.js';
import { type RecentProof, stepUpUrl } from './step-up-recent.js';
import {
  beginEnrolment,
  enrolRetry,
  renderEnrolPage,
  renderRecoveryCodes,
  typedCode,
} from './totp-answers.js';

export interface TotpSetupDeps extends PageDeps {
  cookie: SessionCookie;
  sessions: Pick<SessionService, 'resolve'>;
  secondFactor: Pick<SecondFactorService, 'beginTotpEnrolment' | 'confirmTotpEnrolment'>;
  /** Public base of portcullis' pages (origin + path prefix): the sign-in rd back here. */
  baseUrl: string;
  /** Fresh proofs: setting up an authenticator asks for one first (null: never). */
  recent: RecentProof | null;
}

/**
 * `/auth/totp/setup`: a signed-in user turns on TOTP (linked from the account page), then sees
 * the recovery codes once and goes back to `/auth/account`. Enrolling does not add `otp` to the
 * current session: a stolen session could otherwise satisfy `require: [mfa]` by enrolling a
 * TOTP of its own; and a session that did not sign in or step up lately proves itself first
 * (step-up-recent.ts), so a stolen one cannot put its own authenticator on the account. Turning
 * TOTP off or new recovery codes are the account page's business.
 */
export function createTotpSetup(deps: TotpSetupDeps): LoginRoute {
  const { prefix } = deps;
  const action = `${prefix}/totp/setup`;
  const account = `${prefix}/account`;

  const signedIn = async (
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<LiveSession | null> => {
    const lookup = await currentSession(deps, req);
    if (lookup?.kind === 'valid') {
      if (!deps.recent || (await deps.recent.isRecent(lookup.live.session))) return lookup.live;
      redirect(res, 303, stepUpUrl(prefix, action, 'recent'));
      return null;
    }
    const login = `${prefix}/login?rd=${encodeURIComponent(`${deps.baseUrl}/totp/setup`)}`;
    if (wantsJson(req)) sendJson(req, res, 401, { error: 'unauthenticated', login_url: login });
    else redirect(res, 303, login);
    return null;
  };

  const alreadyOn = (req: IncomingMessage, res: ServerResponse) =>
    renderPage(
      deps.chrome,
      req,
      res,
      200,
      'Two-step verification',
      html`<h1>Two-step verification</h1>
<p class="message info" role="status">Two-step verification is already on for your account.</p>
<p>To move it to another phone, turn it off on your account page first, then set it up again.</p>
<a class="button" href="${account}">Back to your account</a>`,
    );

  const enrolPage = async (
    req: IncomingMessage,
    res: ServerResponse,
    live: LiveSession,
    state: { status?: number; message?: PageMessage; fresh: boolean },
    headers: string[] = [],
  ) => {
    let enrolment: { qrSvg: string; secret: string } | null = null;
    if (state.fresh) {
      enrolment = await beginEnrolment(deps.secondFactor, live.user);
      if (!enrolment) return alreadyOn(req, res);
    }
    renderEnrolPage(
      deps.chrome,
      req,
      res,
      state.status ?? 200,
      {
        action,
        csrf: deps.csrf.token(req).token,
        reason: 'setup',
        enrolment,
        restartHref: action,
        cancelHref: account,
        message: state.message ?? null,
      },
      headers,
    );
  };

  const show: Handler = async (req, res) => {
    const live = await signedIn(req, res);
    if (live) await enrolPage(req, res, live, { fresh: true });
  };

  const confirm: Handler = async (req, res) => {
    const form = await readForm(req);
    refuseRepeated(form, ['code', 'csrf']);
    const live = await signedIn(req, res);
    if (!live) return;
    // An account change: the token bound to this session, as on the account page.
    deps.csrf.requireSessionToken(req, form);
    const result = await deps.secondFactor.confirmTotpEnrolment(
      live.user.id,
      typedCode(form.get('code')),
    );
    if (result.ok) {
      renderRecoveryCodes(deps.chrome, req, res, {
        codes: result.recoveryCodes,
        next: { kind: 'link', href: account },
      });
      return;
    }
    const retry = enrolRetry(result);
    await enrolPage(req, res, live, retry, retry.headers);
  };

  return { path: '/totp/setup', GET: show, POST: confirm };
}
