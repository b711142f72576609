import type { IncomingMessage, ServerResponse } from 'node:http';
import type { User } from '../../ports/store.js';
import type { Handler } from '../handler.js';
import type { LoginRoute } from './method.js';
import { MESSAGES, tooMany, typedCode, typedRecoveryCode } from './totp-answers.js';
import type { TotpLoginDeps } from './totp-login.js';
import type { TotpLoginKit } from './totp-login-kit.js';
import type { PendingLogin } from './totp-pending.js';

/** `/totp` and `/totp/recovery`: the code (or a recovery code) of a half-done sign-in. */
export function totpCodeRoutes(deps: TotpLoginDeps, kit: TotpLoginKit): LoginRoute[] {
  const { pending } = deps;
  const { expired, userOf, codePage, takeStage, finishWithOtp, failed } = kit;

  /** GET /totp: the code page of this browser's half-done sign-in. */
  const showCode: Handler = async (req, res) => {
    const record = await pending.peek(req);
    const user = record?.stage === 'verify' ? await userOf(record) : null;
    if (!record || !user) return expired(req, res, record?.rd);
    await codePage(req, res, record, user);
  };

  /** A refused code or recovery code: the code page again, the record kept for another try. */
  const refuseCode = async (
    req: IncomingMessage,
    res: ServerResponse,
    record: PendingLogin,
    user: User,
    refused: { reason: 'rate_limited'; retryAfterMs: number } | { reason: string },
    field: 'code' | 'recovery',
    text: string,
  ) => {
    await pending.keep(record);
    if ('retryAfterMs' in refused) {
      failed(req, user, 'rate_limited');
      const limited = tooMany(refused.retryAfterMs);
      return codePage(
        req,
        res,
        record,
        user,
        { status: 429, message: limited.message, failed: field },
        limited.headers,
      );
    }
    failed(req, user, 'bad_second_factor');
    await codePage(req, res, record, user, {
      status: 401,
      message: { kind: 'error', text },
      failed: field,
    });
  };

  /** POST /totp: a TOTP code. */
  const verifyCode: Handler = async (req, res) => {
    const taken = await takeStage(req, res, ['code'], 'verify');
    if (!taken) return;
    const { form, record, user } = taken;
    const result = await deps.secondFactor.verifyTotp(user.id, typedCode(form.get('code')));
    if (result.ok) return finishWithOtp(req, res, user, record);
    if (result.reason === 'not_enrolled') return expired(req, res, record.rd);
    const text = result.reason === 'rate_limited' ? '' : MESSAGES[result.reason];
    await refuseCode(req, res, record, user, result, 'code', text);
  };

  /** POST /totp/recovery: a recovery code instead. */
  const useRecovery: Handler = async (req, res) => {
    const taken = await takeStage(req, res, ['recovery_code'], 'verify');
    if (!taken) return;
    const { form, record, user } = taken;
    const typed = typedRecoveryCode(form.get('recovery_code'));
    const result = await deps.secondFactor.useRecoveryCode(user.id, typed);
    if (result.ok) return finishWithOtp(req, res, user, record);
    await refuseCode(req, res, record, user, result, 'recovery', MESSAGES.bad_recovery);
  };

  return [
    { path: '/totp', GET: showCode, POST: verifyCode },
    { path: '/totp/recovery', POST: useRecovery },
  ];
}
