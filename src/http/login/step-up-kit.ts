import type { IncomingMessage } from 'node:http';
import { meetsRequirement } from '../../core/amr.js';
import type { StepUpFailureReason } from '../../services/audit.js';
import type { LiveSession } from '../../services/sessions.js';
import { auditSource } from '../audit-source.js';
import { renderPage } from '../pages.js';
import { type StepUpNeed, stepUpBody } from '../views/step-up-page.js';
import { challengeCookie } from './passkey-call.js';
import type { StepUp, StepUpDeps } from './step-up.js';

export const CHALLENGE_COOKIE = 'portcullis_passkey_step_up';

/** What the step-up's routes share: its page, the challenge cookie, lifting the session. */
export type StepUpKit = ReturnType<typeof stepUpKit>;

/** The step-up's shared parts, built once from its deps (see `createStepUp`). */
export function stepUpKit(deps: StepUpDeps) {
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
            // Last of the offers: focused only when it is the only one (no scroll to the bottom).
            ?.renderControl({
              prefix,
              rd,
              csrf: csrf.token,
              email: user.email,
              autofocus: !passkey && !totp,
            }) ?? null)
        : null;
    const scripts =
      passkey && !done ? (methods.find((method) => method.id === 'passkey')?.scripts ?? []) : [];
    const headers = state.headers ?? [];
    if (csrf.setCookie) headers.push('Set-Cookie', csrf.setCookie);
    renderPage(
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
      headers,
      { scripts },
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

  return { challenge, hasPasskey, render, stepUp, failed };
}
