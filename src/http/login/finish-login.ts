import type { IncomingMessage, ServerResponse } from 'node:http';
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
}

/** How every sign-in ends; see `createFinishLogin`. */
export type FinishLogin = (
  req: IncomingMessage,
  res: ServerResponse,
  user: User,
  method: LoginMethodId,
  rd: string,
) => Promise<void>;

/**
 * How every sign-in ends, whatever the method: the login is recorded, a server-side session
 * starts, its cookie is set, and the browser is sent on with 303 (so a POSTed form is not
 * re-sent) to `rd`, checked once more here because it travelled through a provider or a form.
 */
export function createFinishLogin(deps: FinishLoginDeps): FinishLogin {
  return async (req, res, user, method, rd) => {
    const source = auditSource(deps.proxies, req);
    const signedIn = await deps.users.recordLogin(user);
    if (!signedIn) {
      await deps.audit.record(
        { event: 'auth.login_failed', method, reason: 'not_allowed' },
        { actor: user, subject: user, source },
      );
      redirect(res, 303, `${deps.prefix}/login?error=not_allowed`);
      return;
    }
    deps.metrics?.login(method);
    const { cookie } = await deps.sessions.create(signedIn, {
      ip: source.ip,
      userAgent: String(req.headers['user-agent'] ?? ''),
      method,
    });
    const who = { actor: signedIn, subject: signedIn, source };
    await deps.audit.record({ event: 'auth.login', method }, who);
    await deps.audit.record({ event: 'session.created', method }, who);
    redirect(res, 303, safeRedirect(rd, deps.redirectPolicy), [
      'Set-Cookie',
      deps.cookie.set(cookie),
    ]);
  };
}
