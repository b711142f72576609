import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthMethod } from '../../core/amr.js';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import type { LoginMethodId } from '../../login/method-id.js';
import type { Metrics } from '../../metrics.js';
import type { User } from '../../ports/store.js';
import type { AuditLog } from '../../services/audit.js';
import type { SessionService } from '../../services/sessions.js';
import type { UserService } from '../../services/users.js';
import { auditSource } from '../audit-source.js';
import type { TrustedProxies } from '../request.js';
import { redirect } from '../respond.js';
import type { SessionCookie } from '../session-cookie.js';

/**
 * "Sign in faster next time on this device?": asked after a sign-in by link or SSO when passkeys
 * are enabled (src/http/login/passkey-enrol.ts decides for whom).
 */
export interface PasskeyOffer {
  /** Whether to ask this browser now; false when the answer cannot be known (store hiccup). */
  shouldAsk(req: IncomingMessage, user: User): Promise<boolean>;
  /** The page that asks, relative to the prefix (`/passkey/enrol`); it gets `?rd=`. */
  path: string;
}

/** The sign-ins after which a passkey is offered: the ones that cost a mailbox or provider trip. */
const OFFER_AFTER: ReadonlySet<LoginMethodId> = new Set(['magic_link', 'google_oauth', 'oidc']);

export interface FinishLoginDeps {
  users: Pick<UserService, 'recordLogin'>;
  sessions: Pick<SessionService, 'create'>;
  audit: Pick<AuditLog, 'record'>;
  /** Prometheus counters; null when `metrics.listen` is unset. */
  metrics: Pick<Metrics, 'login'> | null;
  cookie: SessionCookie;
  proxies: TrustedProxies;
  redirectPolicy: RedirectPolicy;
  prefix: string;
  /** Set when `passkey` is in `auth.enabled_auth`. */
  passkeyOffer?: PasskeyOffer | null;
}

/** How every sign-in ends; see `createFinishLogin`. */
export type FinishLogin = (
  req: IncomingMessage,
  res: ServerResponse,
  user: User,
  method: LoginMethodId,
  rd: string,
  options?: FinishOptions,
) => Promise<void>;

/** What a sign-in with more than one step adds to how it ends. */
export interface FinishOptions {
  /** The session's amr when it is not the method's alone (`['pwd', 'otp']` after a TOTP step). */
  amr?: readonly AuthMethod[];
  /** More headers for the redirect (a Set-Cookie clearing the half-login cookie). */
  headers?: readonly string[];
}

export type StartedSession = { ok: true; user: User; setCookie: string } | { ok: false };

/**
 * The part of finishing a sign-in that is not an HTTP answer: the login is recorded (or refused:
 * the account may no longer sign in), a session starts, audited; returns its Set-Cookie value.
 * For sign-ins that answer JSON (a passkey: the page's script navigates).
 */
export type StartSession = (
  req: IncomingMessage,
  user: User,
  method: LoginMethodId,
  amr?: readonly AuthMethod[],
) => Promise<StartedSession>;

export function createStartSession(deps: FinishLoginDeps): StartSession {
  return async (req, user, method, amr) => {
    const source = auditSource(deps.proxies, req);
    const signedIn = await deps.users.recordLogin(user);
    if (!signedIn) {
      await deps.audit.record(
        { event: 'auth.login_failed', method, reason: 'not_allowed' },
        { actor: user, subject: user, source },
      );
      return { ok: false };
    }
    deps.metrics?.login(method);
    const { cookie } = await deps.sessions.create(signedIn, {
      ip: source.ip,
      userAgent: String(req.headers['user-agent'] ?? ''),
      method,
      ...(amr ? { amr: [...amr] } : {}),
    });
    const who = { actor: signedIn, subject: signedIn, source };
    await deps.audit.record({ event: 'auth.login', method }, who);
    await deps.audit.record({ event: 'session.created', method }, who);
    return { ok: true, user: signedIn, setCookie: deps.cookie.set(cookie) };
  };
}

/**
 * How every sign-in by form or redirect ends, whatever the method: the session starts (see
 * `createStartSession`) and the browser is sent on with 303 (so a POSTed form is not re-sent)
 * to `rd`, checked once more here because it travelled through a provider or a form. After a
 * link or SSO sign-in the way to `rd` may pass the passkey offer first.
 */
export function createFinishLogin(deps: FinishLoginDeps): FinishLogin {
  const start = createStartSession(deps);
  return async (req, res, user, method, rd, options = {}) => {
    const started = await start(req, user, method, options.amr);
    if (!started.ok) {
      redirect(res, 303, `${deps.prefix}/login?error=not_allowed`);
      return;
    }
    const target = safeRedirect(rd, deps.redirectPolicy);
    const offer = deps.passkeyOffer;
    const ask = offer && OFFER_AFTER.has(method) && (await offer.shouldAsk(req, started.user));
    redirect(
      res,
      303,
      ask ? `${deps.prefix}${offer.path}?rd=${encodeURIComponent(target)}` : target,
      [...(options.headers ?? []), 'Set-Cookie', started.setCookie],
    );
  };
}
