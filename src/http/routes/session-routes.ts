import type { IncomingMessage } from 'node:http';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import { html } from '../../html.js';
import type { AuditLog } from '../../services/audit.js';
import type { Lookup, SessionService } from '../../services/sessions.js';
import type { UserService } from '../../services/users.js';
import { auditSource } from '../audit-source.js';
import { readForm } from '../body.js';
import type { Handler, PageDeps } from '../handler.js';
import { renderPage } from '../pages.js';
import { redirect, sendJson } from '../respond.js';
import type { SessionCookie } from '../session-cookie.js';

/** What reading a request's session takes: its cookie and the sessions behind it. */
export interface SessionReader {
  cookie: SessionCookie;
  sessions: Pick<SessionService, 'resolve'>;
}

/** The current session, or null; rejects when the store is down. */
export async function currentSession(
  deps: SessionReader,
  req: IncomingMessage,
): Promise<Lookup | null> {
  const cookie = deps.cookie.read(req);
  if (!cookie) return null;
  return deps.sessions.resolve(cookie);
}

export interface SessionRouteDeps extends SessionReader, PageDeps {
  sessions: Pick<SessionService, 'resolve' | 'revoke' | 'revokeUser'>;
  users: Pick<UserService, 'isAdmin'>;
  audit: Pick<AuditLog, 'record'>;
  /** Public base of portcullis' pages (origin + path prefix). */
  baseUrl: string;
  /** Checks the `rd` a "sign in as someone else" form sends along. */
  redirectPolicy: RedirectPolicy;
}

export interface SessionRoutes {
  /** GET /auth/me */
  me: Handler;
  /** GET /auth/logout — a confirm page, so a link or an image cannot sign anyone out. */
  logoutPage: Handler;
  /** POST /auth/logout[?everywhere=1] */
  logout: Handler;
}

export function sessionRoutes(deps: SessionRouteDeps): SessionRoutes {
  const { csrf, prefix } = deps;
  return {
    async me(req, res) {
      const lookup = await currentSession(deps, req);
      if (lookup?.kind !== 'valid') {
        sendJson(req, res, 401, { error: 'unauthenticated', login_url: `${deps.baseUrl}/login` });
        return;
      }
      const { user, session } = lookup.live;
      sendJson(req, res, 200, {
        id: user.id,
        username: user.username,
        email: user.email,
        name: user.name,
        groups: user.groups,
        admin: deps.users.isAdmin(user),
        session: {
          created_at: new Date(session.createdAt).toISOString(),
          expires_at: new Date(session.expiresAt).toISOString(),
          method: session.method,
        },
      });
    },

    async logoutPage(req, res, query) {
      const token = csrf.token(req);
      const everywhere = query.get('everywhere') === '1';
      // Name the account, so a person on a shared computer knows whose session ends.
      const lookup = await currentSession(deps, req).catch(() => null);
      const who = lookup?.kind === 'valid' ? lookup.live.user.email : null;
      renderPage(
        deps.chrome,
        req,
        res,
        200,
        'Sign out',
        html`<h1>Sign out${everywhere ? ' everywhere' : ''}?</h1>
${who ? html`<p>You are signed in as <strong class="address">${who}</strong>.</p>` : ''}
<p>${everywhere ? 'This ends your sessions on every device.' : 'This ends your session on this device.'}</p>
<form method="post" action="${prefix}/logout${everywhere ? '?everywhere=1' : ''}">
<input type="hidden" name="csrf" value="${token.token}">
<button type="submit" autofocus>Sign out</button>
</form>
<p><a href="${prefix}/${who ? 'account' : 'login'}">Cancel</a></p>`,
        token.setCookie ? ['Set-Cookie', token.setCookie] : [],
      );
    },

    async logout(req, res, query) {
      const form = await readForm(req);
      csrf.checkFormOrigin(req, form);
      const lookup = await currentSession(deps, req);
      if (lookup?.kind === 'valid') {
        const { session, user } = lookup.live;
        const who = { actor: user, subject: user, source: auditSource(deps.proxies, req) };
        if (query.get('everywhere') === '1') {
          const ended = await deps.sessions.revokeUser(user.id);
          await deps.audit.record(
            { event: 'session.ended', reason: 'everywhere', sessions: ended.length },
            who,
          );
        } else {
          await deps.sessions.revoke(session.id);
          await deps.audit.record({ event: 'session.ended', reason: 'logout', sessions: 1 }, who);
        }
      }
      // "Sign in as someone else" (the forbidden page) sends `rd`: the login page, then back there.
      const rd = form.get('rd');
      const back =
        rd === null ? '' : `&rd=${encodeURIComponent(safeRedirect(rd, deps.redirectPolicy))}`;
      redirect(res, 303, `${prefix}/login?info=signed_out${back}`, [
        'Set-Cookie',
        deps.cookie.clear(),
      ]);
    },
  };
}
