import type { Handler } from '../handler.js';
import type { LoginRoute } from './method.js';
import { enrolRetry, renderRecoveryCodes, typedCode } from './totp-answers.js';
import type { TotpLoginDeps } from './totp-login.js';
import type { TotpLoginKit } from './totp-login-kit.js';

/** `/totp/enrol` and `/totp/continue`: TOTP set-up during sign-in (`second_factor: required`). */
export function totpEnrolRoutes(deps: TotpLoginDeps, kit: TotpLoginKit): LoginRoute[] {
  const { prefix, pending } = deps;
  const { expired, userOf, enrolPage, takeStage, finishWithOtp, failed } = kit;

  /** GET /totp/enrol: set-up during sign-in (`second_factor: required`); each visit a new secret. */
  const showEnrol: Handler = async (req, res) => {
    const record = await pending.peek(req);
    const user = record?.stage === 'enrol' ? await userOf(record) : null;
    if (!record || !user) return expired(req, res, record?.rd);
    if (!(await enrolPage(req, res, user, { fresh: true }))) return expired(req, res, record.rd);
  };

  /** POST /totp/enrol: the first code confirms the set-up; the recovery codes are shown once. */
  const confirmEnrol: Handler = async (req, res) => {
    const taken = await takeStage(req, res, ['code'], 'enrol');
    if (!taken) return;
    const { form, record, user } = taken;
    const result = await deps.secondFactor.confirmTotpEnrolment(
      user.id,
      typedCode(form.get('code')),
    );
    if (result.ok) {
      // The session starts on "continue", so the codes are on screen before the app opens.
      const setCookie = await pending.keep(record, 'enrolled');
      const csrf = deps.csrf.token(req);
      const headers = setCookie ? ['Set-Cookie', setCookie] : [];
      if (csrf.setCookie) headers.push('Set-Cookie', csrf.setCookie);
      renderRecoveryCodes(
        deps.chrome,
        req,
        res,
        {
          codes: result.recoveryCodes,
          next: { kind: 'form', action: `${prefix}/totp/continue`, csrf: csrf.token },
        },
        headers,
      );
      return;
    }
    await pending.keep(record);
    if (result.reason === 'rate_limited') failed(req, user, 'rate_limited');
    if (result.reason === 'bad_code') failed(req, user, 'bad_second_factor');
    const retry = enrolRetry(result);
    if (!(await enrolPage(req, res, user, retry, retry.headers))) {
      await expired(req, res, record.rd);
    }
  };

  /** POST /totp/continue: after the recovery codes, the session starts. */
  const continueAfterEnrol: Handler = async (req, res) => {
    const taken = await takeStage(req, res, [], 'enrolled');
    if (taken) await finishWithOtp(req, res, taken.user, taken.record);
  };

  return [
    { path: '/totp/enrol', GET: showEnrol, POST: confirmEnrol },
    { path: '/totp/continue', POST: continueAfterEnrol },
  ];
}
