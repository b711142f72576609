import type { IncomingMessage, ServerResponse } from 'node:http';
import { meetsRequirement } from '../../core/amr.js';
import { readCookie } from '../../core/cookies.js';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import type { AuditLog, StepUpFailureReason } from '../../services/audit.js';
import type { PasskeyService } from '../../services/passkeys.js';
import type { RateLimiter, RateLimitRule } from '../../services/rate-limit.js';
import type { SecondFactorService } from '../../services/second-factor.js';
import type { LiveSession, SessionService } from '../../services/sessions.js';
import { auditSource } from '../audit-source.js';
import { readForm, refuseRepeated } from '../body.js';
import type { Handler, PageDeps } from '../handler.js';
import { readJson } from '../json-body.js';
import { redirect, sendJson } from '../respond.js';
import { currentSession, type SessionReader } from '../routes/session-routes.js';
import type { PageMessage } from '../views/login-page.js';
import { type StepUpNeed, stepUpBody } from '../views/step-up-page.js';
import type { LoginMethod, LoginRoute } from './method.js';
import {
  challengeCookie,
  credentialIdOf,
  JSON_LIMITS,
  readCeremony,
  refusalAnswer,
  refuseWhenLimited,
  scriptSession as scriptCallSession,
  sendRefusal,
} from './passkey-call.js';
import { renderScriptedPage } from './passkey-page.js';
import type { RecentProof } from './step-up-recent.js';

export { stepUpUrl } from './step-up-recent.js';

import { MESSAGES, tooMany, typedCode, typedRecoveryCode } from './totp-answers.js';

export type { StepUpNeed } from '../views/step-up-page.js';

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

const NEEDS: readonly StepUpNeed[] = ['passkey', 'mfa', 'recent'];
const CHALLENGE_COOKIE = 'portcullis_passkey_step_up';

/** Step-up options per user: each writes a challenge to the store for its lifetime. */
export const STEP_UP_OPTIONS_LIMIT: RateLimitRule = {
  name: 'passkey-step-up:user',
  limit: 30,
  windowMs: 10 * 60_000,
};

/** The `step_up` query value, when it is one we know. */
export function parseStepUp(value: string | null | undefined): StepUpNeed | null {
  return NEEDS.find((need) => need === value) ?? null;
}

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
  const { prefix, audit } = deps;
  const challenge = challengeCookie(CHALLENGE_COOKIE, {
    secure: deps.secureCookies,
    prefix,
    ttlMs: deps.challengeTtlMs,
  });

  const hasPasskey = async (userId: string) =>
    deps.passkeys !== null && (await deps.passkeys.list(userId)).length > 0;

  const isDone = async (live: LiveSession, need: StepUpNeed) =>
    need === 'recent'
      ? deps.recent.isRecent(live.session)
      : meetsRequirement(live.session.amr ?? [], need);

  const render: StepUp['render'] = async (req, res, live, need, rd, state = {}) => {
    const { user } = live;
    const [done, passkey, totp] = await Promise.all([
      isDone(live, need),
      hasPasskey(user.id),
      deps.secondFactor.hasSecondFactor(user.id),
    ]);
    const csrf = deps.csrf.token(req);
    const methods = deps.methods();
    const link =
      need === 'recent'
        ? (methods
            .find((method) => method.id === 'magic_link')
            ?.renderControl({ prefix, rd, csrf: csrf.token, email: user.email }) ?? null)
        : null;
    const scripts =
      passkey && !done ? (methods.find((method) => method.id === 'passkey')?.scripts ?? []) : [];
    const headers = state.headers ?? [];
    if (csrf.setCookie) headers.push('Set-Cookie', csrf.setCookie);
    renderScriptedPage(
      deps.chrome,
      req,
      res,
      state.status ?? 200,
      need === 'recent' ? 'Confirm it is you' : 'One more step',
      stepUpBody({
        prefix,
        need,
        rd,
        csrf: csrf.token,
        email: user.email,
        done,
        passkey: passkey && scripts.length > 0,
        totp: totp && need !== 'passkey',
        totpNotEnough: totp && need === 'passkey',
        link,
        message: state.message ?? null,
        failed: state.failed,
      }),
      scripts,
      headers,
    );
  };

  const stepUp = async (
    req: IncomingMessage,
    live: LiveSession,
    method: 'passkey' | 'otp',
    need: StepUpNeed,
  ): Promise<boolean> => {
    const added = await deps.sessions.stepUp(live.session.id, [method]);
    if (!added) return false;
    await deps.recent.record(live.session.id);
    await audit.record(
      { event: 'auth.step_up', method, require: need },
      { actor: live.user, subject: live.user, source: auditSource(deps.proxies, req) },
    );
    return true;
  };

  const failed = (
    req: IncomingMessage,
    live: LiveSession,
    method: 'passkey' | 'otp',
    need: StepUpNeed,
    reason: StepUpFailureReason,
    detail?: string,
  ) =>
    audit.record(
      { event: 'auth.step_up', method, require: need, reason, ...(detail ? { detail } : {}) },
      { actor: live.user, subject: live.user, source: auditSource(deps.proxies, req) },
    );

  /** The signed-in session behind a passkey call, after the Origin and CSRF checks. */
  const scriptSession = (req: IncomingMessage) => scriptCallSession(req, deps, 'passkey step-up');

  const passkeyOptions: Handler = async (req, res) => {
    const live = await scriptSession(req);
    await readJson(req, JSON_LIMITS);
    const passkeys = deps.passkeys;
    if (passkeys === null || !(await hasPasskey(live.user.id))) {
      sendJson(req, res, 409, {
        error: 'conflict',
        message: 'Your account has no passkey. Add one on your account page.',
      });
      return;
    }
    const limited = await deps.limiter.hit(STEP_UP_OPTIONS_LIMIT, live.user.id);
    refuseWhenLimited(limited, 'passkey step-up options');
    // Bound to this user: the options list only their credentials, and the verify refuses
    // any other (`wrong_user`), so another person's passkey cannot lift this session.
    const { options, challengeId } = await passkeys.authenticationOptions({
      userId: live.user.id,
    });
    sendJson(req, res, 200, { options }, ['Set-Cookie', challenge.set(challengeId)]);
  };

  const passkeyVerify: Handler = async (req, res, query) => {
    const live = await scriptSession(req);
    const need = parseStepUp(query.get('need')) ?? 'passkey';
    const body = await readCeremony(req);
    const rd = safeRedirect(body.rd, deps.redirectPolicy);
    const clear = ['Set-Cookie', challenge.clear()];
    const passkeys = deps.passkeys;
    if (passkeys === null) {
      sendJson(req, res, 409, { error: 'conflict', message: 'Passkeys are not enabled.' }, clear);
      return;
    }
    const challengeId = readCookie(req.headers.cookie, CHALLENGE_COOKIE);
    const result = await passkeys.verifyAuthentication(challengeId, body.response);
    // The service refuses another user's credential for a bound challenge; checked again here
    // because this is the one thing a step-up must never get wrong.
    const refusal = !result.ok
      ? result.reason
      : result.user.id !== live.user.id
        ? 'wrong_user'
        : null;
    if (refusal !== null) {
      await failed(req, live, 'passkey', need, 'passkey_refused', refusal);
      const answer =
        refusal === 'wrong_user' || refusal === 'unknown_credential'
          ? {
              status: 401,
              code: 'unauthenticated',
              message: `That passkey is not one of ${live.user.email}'s. Use a passkey of this account.`,
            }
          : refusalAnswer({ ok: false, reason: refusal });
      const unknown = refusal === 'unknown_credential' ? credentialIdOf(body.response) : null;
      sendRefusal(req, res, answer, unknown ? { credentialId: unknown } : null, clear);
      return;
    }
    if (!(await stepUp(req, live, 'passkey', need))) {
      sendJson(
        req,
        res,
        401,
        { error: 'unauthenticated', message: 'Your session ended. Sign in again.' },
        clear,
      );
      return;
    }
    sendJson(req, res, 200, { redirect: rd }, clear);
  };

  const totpVerify: Handler = async (req, res) => {
    const form = await readForm(req);
    refuseRepeated(form, ['csrf', 'rd', 'need', 'code', 'recovery_code']);
    const rd = safeRedirect(form.get('rd'), deps.redirectPolicy);
    const need = parseStepUp(form.get('need')) ?? 'mfa';
    const lookup = await currentSession(deps.session, req);
    if (lookup?.kind !== 'valid') {
      redirect(res, 303, `${prefix}/login?rd=${encodeURIComponent(rd)}`);
      return;
    }
    deps.csrf.requireSessionToken(req, form);
    const live = lookup.live;
    const recovery = form.get('recovery_code');
    const which = recovery !== null ? 'recovery' : 'code';
    if (need === 'passkey') {
      await render(req, res, live, need, rd, {
        status: 400,
        message: { kind: 'error', text: 'Only a passkey counts here.' },
      });
      return;
    }
    const userId = live.user.id;
    const result =
      recovery !== null
        ? await deps.secondFactor.useRecoveryCode(userId, typedRecoveryCode(recovery))
        : await deps.secondFactor.verifyTotp(userId, typedCode(form.get('code')));
    if (result.ok) {
      if (!(await stepUp(req, live, 'otp', need))) {
        redirect(res, 303, `${prefix}/login?rd=${encodeURIComponent(rd)}`);
        return;
      }
      redirect(res, 303, rd);
      return;
    }
    if (result.reason === 'rate_limited') {
      await failed(req, live, 'otp', need, 'rate_limited');
      const limited = tooMany(result.retryAfterMs);
      await render(req, res, live, need, rd, {
        status: 429,
        message: limited.message,
        failed: which,
        headers: limited.headers,
      });
      return;
    }
    await failed(req, live, 'otp', need, 'bad_second_factor', result.reason);
    const text =
      result.reason === 'not_enrolled'
        ? 'Your account has no authenticator app set up.'
        : which === 'recovery'
          ? MESSAGES.bad_recovery
          : result.reason === 'replayed'
            ? MESSAGES.replayed
            : MESSAGES.bad_code;
    await render(req, res, live, need, rd, {
      status: 401,
      message: { kind: 'error', text },
      failed: which,
    });
  };

  return {
    render,
    routes: [
      { path: '/passkey/step-up/options', POST: passkeyOptions },
      { path: '/passkey/step-up', POST: passkeyVerify },
      { path: '/totp/step-up', POST: totpVerify },
    ],
  };
}
