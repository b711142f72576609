import type { IncomingMessage, ServerResponse } from 'node:http';
import type { User } from '../../ports/store.js';
import type { UserDirectory } from '../../ports/users.js';
import type { AuditLog } from '../../services/audit.js';
import type { PasskeyService } from '../../services/passkeys.js';
import type { SecondFactorService } from '../../services/second-factor.js';
import type { Csrf } from '../csrf.js';
import type { PageChrome } from '../problem.js';
import type { TrustedProxies } from '../request.js';
import { redirect } from '../respond.js';
import type { FinishLogin } from './finish-login.js';
import type { LoginRoute } from './method.js';
import { totpCodeRoutes } from './totp-code-routes.js';
import { totpEnrolRoutes } from './totp-enrol-routes.js';
import { totpLoginKit } from './totp-login-kit.js';

export { PASSWORD_AND_OTP } from './totp-login-kit.js';

import type { PendingLogins } from './totp-pending.js';

/** `auth.basic.second_factor`. */
export type SecondFactorMode = 'off' | 'optional' | 'required';

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
  const kit = totpLoginKit(deps);
  const { hasPasskey } = kit;

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
    routes: [...totpCodeRoutes(deps, kit), ...totpEnrolRoutes(deps, kit)],
  };
}
