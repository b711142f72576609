import type { IncomingMessage, ServerResponse } from 'node:http';
import { serializeCookie } from '../core/cookies.js';
import { safeRedirect } from '../core/redirect.js';
import type { AppContext } from '../http/context.js';
import { clientIp, requestId } from '../http/request.js';
import { redirect } from '../http/respond.js';
import type { User } from '../ports/store.js';
import type { LoginMethodId } from './method.js';

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
  const signedIn = await ctx.users.recordLogin(user);
  if (!signedIn) {
    redirect(res, 303, `${ctx.config.prefix}/login?error=not_allowed`);
    return;
  }
  ctx.metrics?.login(method);
  const { cookie } = await ctx.sessions.create(signedIn, {
    ip: clientIp(ctx, req),
    userAgent: String(req.headers['user-agent'] ?? ''),
    method,
  });
  ctx.logger.info(
    {
      request_id: requestId(req),
      event: 'login',
      user: signedIn.id,
      method,
      ip: clientIp(ctx, req),
    },
    'signed in',
  );
  const setCookie = serializeCookie(ctx.config.raw.session.cookie_name, cookie, {
    secure: ctx.config.secureCookies,
    domain: ctx.config.raw.session.cookie_domain,
    maxAgeSeconds: Math.floor(ctx.config.raw.session.lifetime / 1000),
  });
  redirect(res, 303, safeRedirect(rd, ctx.config.redirectPolicy), ['Set-Cookie', setCookie]);
}
