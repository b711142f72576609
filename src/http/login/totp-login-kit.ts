import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthMethod } from '../../core/amr.js';
import type { User } from '../../ports/store.js';
import { ANONYMOUS_ACTOR } from '../../services/audit.js';
import { auditSource } from '../audit-source.js';
import { readForm, refuseRepeated } from '../body.js';
import { renderPage } from '../pages.js';
import type { PageMessage } from '../views/login-page.js';
import { pendingExpiredBody, totpCodeBody } from '../views/totp-code.js';
import { beginEnrolment, renderEnrolPage } from './totp-answers.js';
import type { TotpLoginDeps } from './totp-login.js';
import type { PendingLogin } from './totp-pending.js';

/** RFC 8176 values of a session that signed in with a password and a one-time code. */
export const PASSWORD_AND_OTP: readonly AuthMethod[] = ['pwd', 'otp'];

/** What the second step's routes share: its pages, the pending record, the finish. */
export type TotpLoginKit = ReturnType<typeof totpLoginKit>;

/** The second step's shared parts, built once from its deps (see `createTotpLogin`). */
export function totpLoginKit(deps: TotpLoginDeps) {
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

  return { hasPasskey, expired, userOf, codePage, enrolPage, takeStage, finishWithOtp, failed };
}
