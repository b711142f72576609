import type { IncomingMessage } from 'node:http';
import { readCookie } from '../../core/cookies.js';
import { safeRedirect } from '../../core/redirect.js';
import type { RateLimitRule } from '../../services/rate-limit.js';
import type { Handler } from '../handler.js';
import { readJson } from '../json-body.js';
import { sendJson } from '../respond.js';
import type { LoginRoute } from './method.js';
import {
  credentialIdOf,
  JSON_LIMITS,
  readCeremony,
  refusalAnswer,
  refuseWhenLimited,
  scriptSession as scriptCallSession,
  sendRefusal,
} from './passkey-call.js';
import type { StepUpDeps } from './step-up.js';
import { CHALLENGE_COOKIE, type StepUpKit } from './step-up-kit.js';
import { parseStepUp } from './step-up-need.js';

/** Step-up options per user: each writes a challenge to the store for its lifetime. */
export const STEP_UP_OPTIONS_LIMIT: RateLimitRule = {
  name: 'passkey-step-up:user',
  limit: 30,
  windowMs: 10 * 60_000,
};

/** `/passkey/step-up/options` and `/passkey/step-up`: a passkey lifts the session. */
export function stepUpPasskeyRoutes(deps: StepUpDeps, kit: StepUpKit): LoginRoute[] {
  const { challenge, hasPasskey, stepUp, failed } = kit;
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

  return [
    { path: '/passkey/step-up/options', POST: passkeyOptions },
    { path: '/passkey/step-up', POST: passkeyVerify },
  ];
}
