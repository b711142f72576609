import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthMethod } from '../../core/amr.js';
import type { User } from '../../ports/store.js';
import type { UserDirectory } from '../../ports/users.js';
import { ANONYMOUS_ACTOR, type AuditLog } from '../../services/audit.js';
import type { PasskeyService } from '../../services/passkeys.js';
import type { SecondFactorService } from '../../services/second-factor.js';
import { auditSource } from '../audit-source.js';
import { readForm, refuseRepeated } from '../body.js';
import type { Csrf } from '../csrf.js';
import type { Handler } from '../handler.js';
import { renderPage } from '../pages.js';
import type { PageChrome } from '../problem.js';
import type { TrustedProxies } from '../request.js';
import { redirect } from '../respond.js';
import type { PageMessage } from '../views/login-page.js';
import { pendingExpiredBody, totpCodeBody } from '../views/totp-code.js';
import type { FinishLogin } from './finish-login.js';
import type { LoginRoute } from './method.js';
import {
  beginEnrolment,
  enrolRetry,
  MESSAGES,
  renderEnrolPage,
  renderRecoveryCodes,
  tooMany,
  typedCode,
  typedRecoveryCode,
} from './totp-answers.js';
import type { PendingLogin, PendingLogins } from './totp-pending.js';

/** `auth.basic.second_factor`. */
export type SecondFactorMode = 'off' | 'optional' | 'required';

/** RFC 8176 values of a session that signed in with a password and a one-time code. */
export const PASSWORD_AND_OTP: readonly AuthMethod[] = ['pwd', 'otp'];

export interface TotpLoginDeps {
  mode: SecondFactorMode;
  secondFactor: Pick<
    SecondFactorService,
    | 'beginTotpEnrolment'
    | 'confirmTotpEnrolment'
    | 'verifyTotp'
    | 'useRecoveryCode'
    | 'hasSecondFactor'
  >;
  /** Whether a user has a passkey (it counts as the second factor); null without passkeys. */
  passkeys: Pick<PasskeyService, 'list'> | null;
  pending: PendingLogins;
  users: Pick<UserDirectory, 'getUser'>;
  finish: FinishLogin;
  audit: Pick<AuditLog, 'record' | 'recordUnawaited'>;
  csrf: Csrf;
  proxies: TrustedProxies;
  chrome: PageChrome;
  prefix: string;
}

/** What the password method hands a right password to, and the routes of the second step. */
export interface TotpLogin {
  /** After a right password: straight in, the code page, or TOTP set-up first. */
  afterPassword(req: IncomingMessage, res: ServerResponse, user: User, rd: string): Promise<void>;
  readonly routes: readonly LoginRoute[];
}

/**
 * The second step of a `basic` sign-in (`auth.basic.second_factor`). No session exists before
 * it: the right password leaves a one-time record (see PendingLogins), and only a right code,
 * recovery code or a finished enrolment turns it into a session, with amr `['pwd', 'otp']`.
 * Every code tried counts against the user's second-factor limit in the store, on every
 * instance (SecondFactorService throttles before any check).
 */
export function createTotpLogin(deps: TotpLoginDeps): TotpLogin {
  const { prefix, pending } = deps;
  const loginHref = (rd: string) => `${prefix}/login?rd=${encodeURIComponent(rd)}`;

  const hasPasskey = async (userId: string) =>
    deps.passkeys ? (await deps.passkeys.list(userId)).length > 0 : false;

  const passkeyHref = (rd: string) =>
    // The passkey ceremony lives on the login page (its script); step_up=passkey asks for it.
    `${prefix}/login?rd=${encodeURIComponent(rd)}&step_up=passkey`;

  const expired = (req: IncomingMessage, res: ServerResponse, rd = '/') =>
    renderPage(
      deps.chrome,
      req,
      res,
      401,
      'Sign in again',
      pendingExpiredBody({ restartHref: loginHref(rd) }),
      ['Set-Cookie', pending.clear()],
    );

  /** The pending sign-in's user, if it may still sign in. */
  const userOf = async (record: PendingLogin): Promise<User | null> => {
    const user = await deps.users.getUser(record.userId);
    return user?.active ? user : null;
  };

  const codePage = async (
    req: IncomingMessage,
    res: ServerResponse,
    record: PendingLogin,
    user: User,
    state: { status?: number; message?: PageMessage; failed?: 'code' | 'recovery' } = {},
    headers: string[] = [],
  ) => {
    const csrf = deps.csrf.token(req);
    if (csrf.setCookie) headers.push('Set-Cookie', csrf.setCookie);
    const [totp, passkey] = await Promise.all([
      deps.secondFactor.hasSecondFactor(user.id),
      hasPasskey(user.id),
    ]);
    renderPage(
      deps.chrome,
      req,
      res,
      state.status ?? 200,
      'Two-step verification',
      totpCodeBody({
        prefix,
        csrf: csrf.token,
        email: user.email,
        totp,
        passkeyHref: passkey ? passkeyHref(record.rd) : null,
        restartHref: loginHref(record.rd),
        message: state.message ?? null,
        failed: state.failed,
      }),
      headers,
    );
  };

  const enrolPage = async (
    req: IncomingMessage,
    res: ServerResponse,
    user: User,
    state: { status?: number; message?: PageMessage; fresh: boolean },
    headers: string[] = [],
  ) => {
    let enrolment: { qrSvg: string; secret: string } | null = null;
    if (state.fresh) {
      enrolment = await beginEnrolment(deps.secondFactor, user);
      // Confirmed meanwhile (another tab): the code page is what is left to do.
      if (!enrolment) return false;
    }
    const csrf = deps.csrf.token(req);
    if (csrf.setCookie) headers.push('Set-Cookie', csrf.setCookie);
    renderEnrolPage(
      deps.chrome,
      req,
      res,
      state.status ?? 200,
      {
        action: `${prefix}/totp/enrol`,
        csrf: csrf.token,
        reason: 'required',
        enrolment,
        restartHref: `${prefix}/totp/enrol`,
        cancelHref: null,
        message: state.message ?? null,
      },
      headers,
    );
    return true;
  };

  /**
   * Reads a second-step form (its fields once each, its origin) and takes the pending record,
   * with its user when the record is at `stage`; else answers "sign in again" and gives null.
   */
  const takeStage = async (
    req: IncomingMessage,
    res: ServerResponse,
    fields: string[],
    stage: PendingLogin['stage'],
  ): Promise<{ form: URLSearchParams; record: PendingLogin; user: User } | null> => {
    const form = await readForm(req);
    refuseRepeated(form, [...fields, 'csrf']);
    deps.csrf.checkFormOrigin(req, form);
    const record = await pending.take(req);
    if (!record) {
      await expired(req, res);
      return null;
    }
    const user = record.stage === stage ? await userOf(record) : null;
    if (!user) {
      await expired(req, res, record.rd);
      return null;
    }
    return { form, record, user };
  };

  const finishWithOtp = (
    req: IncomingMessage,
    res: ServerResponse,
    user: User,
    record: PendingLogin,
  ) =>
    deps.finish(req, res, user, 'basic', record.rd, {
      amr: PASSWORD_AND_OTP,
      headers: ['Set-Cookie', pending.clear()],
    });

  const failed = (req: IncomingMessage, user: User, reason: 'bad_second_factor' | 'rate_limited') =>
    deps.audit.recordUnawaited(
      { event: 'auth.login_failed', method: 'basic', reason },
      { actor: ANONYMOUS_ACTOR, subject: user, source: auditSource(deps.proxies, req) },
    );

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

  return {
    async afterPassword(req, res, user, rd) {
      if (deps.mode === 'off') return deps.finish(req, res, user, 'basic', rd);
      const [totp, passkey] = await Promise.all([
        deps.secondFactor.hasSecondFactor(user.id),
        hasPasskey(user.id),
      ]);
      if (totp || passkey) {
        const cookie = await pending.start(user, rd, 'verify');
        return redirect(res, 303, `${prefix}/totp`, ['Set-Cookie', cookie]);
      }
      if (deps.mode === 'required') {
        const cookie = await pending.start(user, rd, 'enrol');
        return redirect(res, 303, `${prefix}/totp/enrol`, ['Set-Cookie', cookie]);
      }
      // `optional`, nothing set up: the password alone, and the session says so (amr ['pwd']).
      await deps.finish(req, res, user, 'basic', rd);
    },
    routes: [
      { path: '/totp', GET: showCode, POST: verifyCode },
      { path: '/totp/recovery', POST: useRecovery },
      { path: '/totp/enrol', GET: showEnrol, POST: confirmEnrol },
      { path: '/totp/continue', POST: continueAfterEnrol },
    ],
  };
}
