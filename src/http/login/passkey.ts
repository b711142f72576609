import type { IncomingMessage, ServerResponse } from 'node:http';
import { readCookie } from '../../core/cookies.js';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import type { PasskeyStore } from '../../ports/passkeys.js';
import type { Session } from '../../ports/sessions.js';
import type { UserDirectory } from '../../ports/users.js';
import type { AuditLog, AuditParty } from '../../services/audit.js';
import { ANONYMOUS_ACTOR } from '../../services/audit.js';
import type { PasskeyRefused, PasskeyService } from '../../services/passkeys.js';
import type { RateLimiter, RateLimitRule } from '../../services/rate-limit.js';
import { auditSource } from '../audit-source.js';
import type { Handler, PageDeps } from '../handler.js';
import { readJson } from '../json-body.js';
import { sendJson } from '../respond.js';
import type { SessionReader } from '../routes/session-routes.js';
import { passkeySignInControl } from '../views/passkey-signin.js';
import type { StartSession } from './finish-login.js';
import type { LoginControlInput, LoginMethod } from './method.js';
import {
  challengeCookie,
  checkScriptCall,
  credentialIdOf,
  JSON_LIMITS,
  readCeremony,
  refusalAnswer,
  refuseWhenLimited,
  scriptSession,
  sendRefusal,
} from './passkey-call.js';
import { PASSKEY_ENROL_PATH, passkeyDeviceName, passkeyEnrolRoutes } from './passkey-enrol.js';
import { passkeyScripts } from './passkey-script.js';
import { type RecentProof, stepUpUrl } from './step-up-recent.js';

/*
 * `passkey`: WebAuthn ceremonies over JSON for the page's script (src/http/login/passkey-script.ts).
 *
 *   POST <prefix>/passkey/login/options     → { options }     discoverable sign-in (+ autofill)
 *   POST <prefix>/passkey/login             { response, rd } → { redirect } + session cookie
 *   POST <prefix>/passkey/register/options  → { options }     signed in, X-CSRF-Token
 *   POST <prefix>/passkey/register          { response, rd } → { redirect }
 *   GET  <prefix>/passkey/enrol?rd=          the offer after a link / SSO sign-in
 *   POST <prefix>/passkey/enrol/skip         "Not now"
 *   GET  <prefix>/passkey/webauthn.js, passkey.js   the scripts
 *
 * The challenge handle travels in a cookie, not in the page or the JSON: HttpOnly (page script
 * never sees it), SameSite=Strict and Path=<prefix>/passkey (sent to these calls only), living
 * as long as the challenge. So a ceremony completes only in the browser that started it, the
 * login page costs no store write until the script asks for options, and a handle cannot leak
 * through page HTML, logs of rendered pages, or the script's memory.
 */

const LOGIN_CHALLENGE_COOKIE = 'portcullis_passkey_login';
const REGISTER_CHALLENGE_COOKIE = 'portcullis_passkey_register';

/**
 * Sign-in options per client address: each writes a challenge to the store for its lifetime.
 * A page load asks once (autofill) and each button press once more.
 */
export const PASSKEY_OPTIONS_LIMIT: RateLimitRule = {
  name: 'passkey:ip',
  limit: 60,
  windowMs: 10 * 60_000,
};

export interface PasskeyMethodDeps extends PageDeps {
  passkeys: Pick<
    PasskeyService,
    'registrationOptions' | 'verifyRegistration' | 'authenticationOptions' | 'verifyAuthentication'
  >;
  /** Names whose passkey a refused sign-in used, for that user's audit trail. */
  credentials: Pick<PasskeyStore, 'getPasskey'>;
  users: Pick<UserDirectory, 'getUser'>;
  session: SessionReader;
  startSession: StartSession;
  audit: Pick<AuditLog, 'record'>;
  limiter: Pick<RateLimiter, 'hit'>;
  redirectPolicy: RedirectPolicy;
  /** Origins a call may come from: public_url's (the same list the ceremonies accept). */
  origins: readonly string[];
  /** The RP ID, for the browser's Signal API when a passkey is unknown here. */
  rpId: string;
  secureCookies: boolean;
  /** The challenge lifetime: the challenge cookie's Max-Age. */
  challengeTtlMs: number;
  /**
   * Adding a passkey needs a recent sign-in or step-up (a stolen session must not add its
   * thief's key); absent or null: no such check.
   */
  recent?: RecentProof | null;
}

export function createPasskeyMethod(deps: PasskeyMethodDeps): LoginMethod {
  const { prefix, passkeys, audit } = deps;
  const scripts = passkeyScripts(prefix);
  const cookieOptions = { secure: deps.secureCookies, prefix, ttlMs: deps.challengeTtlMs };
  const loginChallenge = challengeCookie(LOGIN_CHALLENGE_COOKIE, cookieOptions);
  const registerChallenge = challengeCookie(REGISTER_CHALLENGE_COOKIE, cookieOptions);

  /** The signed-in user for the registration calls, after the session-bound CSRF check. */
  const enrollingUser = (req: IncomingMessage) => scriptSession(req, deps, 'passkey registration');

  /**
   * Refuses (403, with the step-up page's URL for the script to go to) a registration by a
   * session that has not proved itself lately; true when it did.
   */
  const refuseStale = async (
    req: IncomingMessage,
    res: ServerResponse,
    session: Session,
  ): Promise<boolean> => {
    if (!deps.recent || (await deps.recent.isRecent(session))) return false;
    req.resume();
    sendJson(req, res, 403, {
      error: 'step_up_required',
      message: 'Before adding a passkey, confirm it is you: you signed in a while ago.',
      step_up: stepUpUrl(prefix, `${prefix}/account`, 'recent'),
    });
    return true;
  };

  /** Audits a refused sign-in under the credential owner's name when the credential is known. */
  const auditRefusal = async (
    req: IncomingMessage,
    refusal: PasskeyRefused,
    response: unknown,
  ): Promise<void> => {
    const id = refusal.record?.id ?? credentialIdOf(response);
    let subject: AuditParty | null = null;
    let name = refusal.record?.name ?? null;
    if (id !== null && refusal.reason !== 'unknown_credential' && refusal.reason !== 'malformed') {
      const record = refusal.record ?? (await deps.credentials.getPasskey(id));
      name = record?.name ?? name;
      subject = record ? await deps.users.getUser(record.userId) : null;
    }
    await audit.record(
      {
        event: 'auth.login_failed',
        method: 'passkey',
        reason: 'passkey_refused',
        detail: name ? `${refusal.reason} (${name})` : refusal.reason,
      },
      { actor: ANONYMOUS_ACTOR, subject, source: auditSource(deps.proxies, req) },
    );
  };

  const loginOptions: Handler = async (req, res) => {
    checkScriptCall(req, deps.origins);
    await readJson(req, JSON_LIMITS);
    const limited = await deps.limiter.hit(PASSKEY_OPTIONS_LIMIT, deps.proxies.clientIp(req));
    refuseWhenLimited(limited, 'passkey options');
    const { options, challengeId } = await passkeys.authenticationOptions();
    sendJson(req, res, 200, { options }, ['Set-Cookie', loginChallenge.set(challengeId)]);
  };

  const login: Handler = async (req, res) => {
    checkScriptCall(req, deps.origins);
    const body = await readCeremony(req);
    const rd = safeRedirect(body.rd, deps.redirectPolicy);
    const challengeId = readCookie(req.headers.cookie, LOGIN_CHALLENGE_COOKIE);
    // The challenge is used up whatever happens: the browser's copy goes too.
    const clear = ['Set-Cookie', loginChallenge.clear()];
    const result = await passkeys.verifyAuthentication(challengeId, body.response);
    if (!result.ok) {
      await auditRefusal(req, result, body.response);
      const answer = refusalAnswer(result);
      const unknown = result.reason === 'unknown_credential' ? credentialIdOf(body.response) : null;
      sendRefusal(
        req,
        res,
        answer,
        unknown ? { rpId: deps.rpId, credentialId: unknown } : null,
        clear,
      );
      return;
    }
    const started = await deps.startSession(req, result.user, 'passkey', ['passkey']);
    if (!started.ok) {
      sendJson(
        req,
        res,
        403,
        {
          error: 'forbidden',
          message: 'This account is not allowed to sign in. Ask an administrator.',
        },
        clear,
      );
      return;
    }
    sendJson(req, res, 200, { redirect: rd }, [...clear, 'Set-Cookie', started.setCookie]);
  };

  const registerOptions: Handler = async (req, res) => {
    const { user, session } = await enrollingUser(req);
    if (await refuseStale(req, res, session)) return;
    await readJson(req, JSON_LIMITS);
    const { options, challengeId } = await passkeys.registrationOptions(user);
    sendJson(req, res, 200, { options }, ['Set-Cookie', registerChallenge.set(challengeId)]);
  };

  const register: Handler = async (req, res) => {
    const { user, session } = await enrollingUser(req);
    if (await refuseStale(req, res, session)) return;
    const body = await readCeremony(req);
    const challengeId = readCookie(req.headers.cookie, REGISTER_CHALLENGE_COOKIE);
    const clear = ['Set-Cookie', registerChallenge.clear()];
    const name = passkeyDeviceName(String(req.headers['user-agent'] ?? '')) ?? 'Passkey';
    const result = await passkeys.verifyRegistration(user.id, challengeId, body.response, name);
    const source = auditSource(deps.proxies, req);
    if (!result.ok) {
      const inUse = result.reason === 'credential_in_use';
      sendJson(
        req,
        res,
        inUse ? 409 : 400,
        {
          error: inUse ? 'conflict' : 'bad_request',
          message: inUse
            ? 'This passkey is already registered.'
            : 'The passkey could not be created. Try again.',
        },
        clear,
      );
      return;
    }
    await audit.record(
      { event: 'account.passkey_registered', facts: { name: result.record.name } },
      { actor: user, subject: user, source },
    );
    const rd = body.rd === null ? `${prefix}/account` : safeRedirect(body.rd, deps.redirectPolicy);
    sendJson(req, res, 200, { redirect: rd, name: result.record.name }, clear);
  };

  const enrol = passkeyEnrolRoutes({
    csrf: deps.csrf,
    proxies: deps.proxies,
    chrome: deps.chrome,
    prefix,
    session: deps.session,
    redirectPolicy: deps.redirectPolicy,
    secureCookies: deps.secureCookies,
    scripts: scripts.urls,
    recent: deps.recent ?? null,
  });

  return {
    id: 'passkey',
    label: 'Passkey',
    renderControl: (input: LoginControlInput) =>
      passkeySignInControl({ prefix: input.prefix, rd: input.rd }),
    scripts: scripts.urls,
    needsScript: true,
    routes: [
      ...scripts.routes,
      { path: '/passkey/login/options', POST: loginOptions },
      { path: '/passkey/login', POST: login },
      { path: '/passkey/register/options', POST: registerOptions },
      { path: '/passkey/register', POST: register },
      { path: PASSKEY_ENROL_PATH, GET: enrol.page },
      { path: `${PASSKEY_ENROL_PATH}/skip`, POST: enrol.skip },
    ],
  };
}
