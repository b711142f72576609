import type { IncomingMessage, ServerResponse } from 'node:http';
import { html } from '../../html.js';
import type { Lookup } from '../../services/sessions.js';
import { auditSource } from '../audit-source.js';
import { readForm } from '../body.js';
import type { AppContext } from '../context.js';
import { checkFormOrigin, csrfToken } from '../csrf.js';
import { renderPage } from '../pages.js';
import { redirect, sendJson } from '../respond.js';
import { sessionCookie } from '../session-cookie.js';

/** The current session, or null; rejects when the store is down. */
export async function currentSession(
  ctx: AppContext,
  req: IncomingMessage,
): Promise<Lookup | null> {
  const cookie = sessionCookie(ctx.config).read(req);
  if (!cookie) return null;
  return ctx.sessions.resolve(cookie);
}

/** GET /auth/me */
export async function handleMe(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const lookup = await currentSession(ctx, req);
  if (!lookup || lookup.kind !== 'valid') {
    sendJson(req, res, 401, { error: 'unauthenticated', login_url: `${ctx.baseUrl}/login` });
    return;
  }
  const { user, session } = lookup.live;
  sendJson(req, res, 200, {
    id: user.id,
    email: user.email,
    name: user.name,
    groups: user.groups,
    admin: ctx.users.isAdmin(user),
    session: {
      created_at: new Date(session.createdAt).toISOString(),
      expires_at: new Date(session.expiresAt).toISOString(),
      method: session.method,
    },
  });
}

function clearSessionCookie(ctx: AppContext): string {
  return sessionCookie(ctx.config).clear();
}

/** GET /auth/logout — a confirm page, so a link or an image cannot sign anyone out. */
export function handleLogoutPage(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): void {
  const csrf = csrfToken(ctx, req);
  const everywhere = query.get('everywhere') === '1';
  renderPage(
    ctx,
    req,
    res,
    200,
    'Sign out',
    html`<h1>Sign out${everywhere ? ' everywhere' : ''}?</h1>
<p>${everywhere ? 'This ends your sessions on every device.' : 'This ends your session on this device.'}</p>
<form method="post" action="${ctx.config.prefix}/logout${everywhere ? '?everywhere=1' : ''}">
<input type="hidden" name="csrf" value="${csrf.token}">
<button type="submit" autofocus>Sign out</button>
</form>`,
    csrf.setCookie ? ['Set-Cookie', csrf.setCookie] : [],
  );
}

/** POST /auth/logout[?everywhere=1] */
export async function handleLogout(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const form = await readForm(req);
  checkFormOrigin(ctx, req, form);
  const lookup = await currentSession(ctx, req);
  if (lookup?.kind === 'valid') {
    const { session, user } = lookup.live;
    const who = { actor: user, subject: user, source: auditSource(ctx, req) };
    if (query.get('everywhere') === '1') {
      const ended = await ctx.sessions.revokeUser(user.id);
      await ctx.audit.record(
        { event: 'session.ended', reason: 'everywhere', sessions: ended.length },
        who,
      );
    } else {
      await ctx.sessions.revoke(session.id);
      await ctx.audit.record({ event: 'session.ended', reason: 'logout', sessions: 1 }, who);
    }
  }
  redirect(res, 303, `${ctx.config.prefix}/login?info=signed_out`, [
    'Set-Cookie',
    clearSessionCookie(ctx),
  ]);
}
