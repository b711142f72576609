import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeRedirect } from '../../core/redirect.js';
import type { AppContext } from '../context.js';
import { loginUrl } from '../forward-auth.js';
import { firstValue as first, isTrusted } from '../request.js';
import { redirect } from '../respond.js';

/**
 * oauth2-proxy's sign-in paths, so its documented nginx setup works unchanged after a switch
 * (`location /oauth2/ { proxy_pass …; proxy_set_header X-Auth-Request-Redirect $request_uri; }`
 * and `error_page 401 = /oauth2/sign_in;`): both send the browser to portcullis' login page.
 * The destination is `?rd=`, else the `X-Auth-Request-Redirect` header a trusted proxy sets; a
 * relative one is made absolute on the host the proxy names (the app's, not portcullis'), and
 * whatever results goes through the same `rd` check as everywhere else (SPEC §3).
 */

function destination(ctx: AppContext, req: IncomingMessage, query: URLSearchParams): string {
  const trusted = isTrusted(ctx, req.socket.remoteAddress);
  const asked =
    query.get('rd') ?? (trusted ? first(req.headers['x-auth-request-redirect']) : undefined);
  if (!asked) return '/';
  if (trusted && asked.startsWith('/') && !asked.startsWith('//')) {
    const host = first(req.headers['x-forwarded-host']) ?? req.headers.host;
    const scheme =
      first(req.headers['x-forwarded-proto']) ??
      first(req.headers['x-scheme']) ??
      ctx.config.publicUrl.protocol.slice(0, -1);
    if (host && (scheme === 'http' || scheme === 'https'))
      return safeRedirect(`${scheme}://${host}${asked}`, ctx.config.redirectPolicy);
  }
  return safeRedirect(asked, ctx.config.redirectPolicy);
}

/** GET /oauth2/sign_in and /oauth2/start: to the login page. */
export function handleOauth2SignIn(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): void {
  const rd = destination(ctx, req, query);
  redirect(res, 302, loginUrl(ctx, rd === '/' ? null : rd));
}

/** GET /oauth2/sign_out: to the sign-out page (which asks before ending the session). */
export function handleOauth2SignOut(
  ctx: AppContext,
  _req: IncomingMessage,
  res: ServerResponse,
): void {
  redirect(res, 302, `${ctx.baseUrl}/logout`);
}
