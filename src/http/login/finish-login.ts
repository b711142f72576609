import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeRedirect } from '../../core/redirect.js';
import type { LoginMethodId } from '../../login/method-id.js';
import type { User } from '../../ports/store.js';
import { auditSource } from '../audit-source.js';
import type { AppContext } from '../context.js';
import { redirect } from '../respond.js';
import { sessionCookie } from '../session-cookie.js';

/**
 * How every sign-in ends, whatever the method: the login is recorded, a server-side session
 * starts, its cookie is set, and the browser is sent on with 303 (so a POSTed form is not
 * re-sent) to `rd`, checked once more here because it travelled through a provider or a form.
 */
export async function finishLogin(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  user: User,
  method: LoginMethodId,
  rd: string,
): Promise<void> {
  const source = auditSource(ctx, req);
  const signedIn = await ctx.users.recordLogin(user);
  if (!signedIn) {
    await ctx.audit.record(
      { event: 'auth.login_failed', method, reason: 'not_allowed' },
      { actor: user, subject: user, source },
    );
    redirect(res, 303, `${ctx.config.prefix}/login?error=not_allowed`);
    return;
  }
  ctx.metrics?.login(method);
  const { cookie } = await ctx.sessions.create(signedIn, {
    ip: source.ip,
    userAgent: String(req.headers['user-agent'] ?? ''),
    method,
  });
  const who = { actor: signedIn, subject: signedIn, source };
  await ctx.audit.record({ event: 'auth.login', method }, who);
  await ctx.audit.record({ event: 'session.created', method }, who);
  const setCookie = sessionCookie(ctx.config).set(cookie);
  redirect(res, 303, safeRedirect(rd, ctx.config.redirectPolicy), ['Set-Cookie', setCookie]);
}
