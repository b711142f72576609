import { safeRedirect } from '../../core/redirect.js';
import { readForm, refuseRepeated } from '../body.js';
import type { Handler } from '../handler.js';
import { redirect } from '../respond.js';
import { currentSession } from '../routes/session-routes.js';
import type { LoginRoute } from './method.js';
import type { StepUpDeps } from './step-up.js';
import type { StepUpKit } from './step-up-kit.js';
import { parseStepUp } from './step-up-need.js';
import { MESSAGES, tooMany, typedCode, typedRecoveryCode } from './totp-answers.js';

/** `/totp/step-up`: an authenticator code or a recovery code lifts the session. */
export function stepUpTotpRoute(deps: StepUpDeps, kit: StepUpKit): LoginRoute {
  const { prefix } = deps;
  const { render, stepUp, failed } = kit;
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

  return { path: '/totp/step-up', POST: totpVerify };
}
