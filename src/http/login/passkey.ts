import type { IncomingMessage, ServerResponse } from 'node:http';
import { readCookie, serializeCookie } from '../../core/cookies.js';
import { PortcullisError } from '../../core/errors.js';
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
import { currentSession, type SessionReader } from '../routes/session-routes.js';
import { passkeySignInControl } from '../views/passkey-signin.js';
import type { StartSession } from './finish-login.js';
import type { LoginControlInput, LoginMethod } from './method.js';
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
export const CSRF_HEADER = 'x-csrf-token';
export const JSON_LIMITS = { maxBytes: 64 * 1024, maxDepth: 8 };

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

interface CeremonyBody {
  response: unknown;
  rd: string | null;
}

/**
 * A call from our own page's script, nothing else: our exact `Origin` (a cross-site page, a
 * sibling subdomain and a sandboxed frame all send another one or `null`), no
 * `Sec-Fetch-Site` other than same-origin, and a JSON content type, which no HTML form can send.
 */
export function checkScriptCall(req: IncomingMessage, origins: readonly string[]): void {
  const origin = req.headers.origin;
  if (typeof origin !== 'string' || !origins.includes(origin)) {
    throw new PortcullisError('csrf', `passkey call from origin ${origin ?? '-'}`);
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') {
    throw new PortcullisError('csrf', `passkey call from sec-fetch-site ${String(site)}`);
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    throw new PortcullisError('bad_request', `passkey call with content-type ${type ?? '-'}`);
  }
}

export async function readCeremony(req: IncomingMessage): Promise<CeremonyBody> {
  const body = await readJson(req, JSON_LIMITS);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PortcullisError('bad_request', 'passkey body not an object');
  }
  const { response, rd } = body as Record<string, unknown>;
  if (rd !== undefined && typeof rd !== 'string') {
    throw new PortcullisError('bad_request', 'passkey rd not a string');
  }
  return { response, rd: rd ?? null };
}

/** The credential ID a response names, if it looks like one (for the audit trail only). */
export function credentialIdOf(response: unknown): string | null {
  if (typeof response !== 'object' || response === null) return null;
  const id = (response as Record<string, unknown>).id;
  return typeof id === 'string' && /^[A-Za-z0-9_-]{1,1364}$/.test(id) ? id : null;
}

/** What the person reads for each refusal; the reason itself goes to the log and audit. */
export function refusalAnswer(refusal: PasskeyRefused): {
  status: number;
  code: string;
  message: string;
} {
  switch (refusal.reason) {
    case 'unknown_credential':
      return {
        status: 401,
        code: 'unauthenticated',
        message:
          'This passkey is not registered here (it may have been removed). Sign in another way, then create a new one.',
      };
    case 'inactive_user':
      return {
        status: 403,
        code: 'forbidden',
        message: 'This account is deactivated. Ask an administrator.',
      };
    case 'bad_challenge':
      return {
        status: 400,
        code: 'bad_request',
        message: 'The sign-in took too long or was already used. Try again.',
      };
    default:
      return {
        status: 401,
        code: 'unauthenticated',
        message: 'That passkey could not be verified. Try again, or sign in another way.',
      };
  }
}

export function createPasskeyMethod(deps: PasskeyMethodDeps): LoginMethod {
  const { prefix, passkeys, audit } = deps;
  const scripts = passkeyScripts(prefix);
  const cookiePath = `${prefix}/passkey`;
  const challengeCookie = (name: string, value: string, maxAgeSeconds: number) =>
    serializeCookie(name, value, {
      secure: deps.secureCookies,
      path: cookiePath,
      maxAgeSeconds,
      sameSite: 'Strict',
    });
  const ttlSeconds = Math.ceil(deps.challengeTtlMs / 1000);

  /** The signed-in user for the registration calls, after the session-bound CSRF check. */
  const enrollingUser = async (req: IncomingMessage) => {
    checkScriptCall(req, deps.origins);
    const lookup = await currentSession(deps.session, req);
    if (lookup?.kind !== 'valid') {
      req.resume();
      throw new PortcullisError('unauthenticated', 'passkey registration without a session');
    }
    const header = req.headers[CSRF_HEADER];
    deps.csrf.requireSessionToken(
      req,
      new URLSearchParams({ csrf: typeof header === 'string' ? header : '' }),
    );
    return lookup.live;
  };

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
    if (!limited.allowed) {
      throw new PortcullisError('rate_limited', 'passkey options', undefined, {
        retryAfter: Math.ceil(limited.retryAfterMs / 1000),
      });
    }
    const { options, challengeId } = await passkeys.authenticationOptions();
    sendJson(req, res, 200, { options }, [
      'Set-Cookie',
      challengeCookie(LOGIN_CHALLENGE_COOKIE, challengeId, ttlSeconds),
    ]);
  };

  const login: Handler = async (req, res) => {
    checkScriptCall(req, deps.origins);
    const body = await readCeremony(req);
    const rd = safeRedirect(body.rd, deps.redirectPolicy);
    const challengeId = readCookie(req.headers.cookie, LOGIN_CHALLENGE_COOKIE);
    // The challenge is used up whatever happens: the browser's copy goes too.
    const clear = ['Set-Cookie', challengeCookie(LOGIN_CHALLENGE_COOKIE, '', 0)];
    const result = await passkeys.verifyAuthentication(challengeId, body.response);
    if (!result.ok) {
      await auditRefusal(req, result, body.response);
      const answer = refusalAnswer(result);
      const unknown = result.reason === 'unknown_credential' ? credentialIdOf(body.response) : null;
      sendJson(
        req,
        res,
        answer.status,
        {
          error: answer.code,
          message: answer.message,
          ...(unknown ? { unknown_credential: { rpId: deps.rpId, credentialId: unknown } } : {}),
        },
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
    sendJson(req, res, 200, { options }, [
      'Set-Cookie',
      challengeCookie(REGISTER_CHALLENGE_COOKIE, challengeId, ttlSeconds),
    ]);
  };

  const register: Handler = async (req, res) => {
    const { user, session } = await enrollingUser(req);
    if (await refuseStale(req, res, session)) return;
    const body = await readCeremony(req);
    const challengeId = readCookie(req.headers.cookie, REGISTER_CHALLENGE_COOKIE);
    const clear = ['Set-Cookie', challengeCookie(REGISTER_CHALLENGE_COOKIE, '', 0)];
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
