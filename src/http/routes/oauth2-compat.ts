import type { IncomingMessage } from 'node:http';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import { loginUrl } from '../check/pipeline.js';
import type { Handler } from '../handler.js';
import { firstValue as first, type TrustedProxies } from '../request.js';
import { redirect } from '../respond.js';

/**
 * oauth2-proxy's sign-in paths, so its documented nginx setup works unchanged after a switch
 * (`location /oauth2/ { proxy_pass …; proxy_set_header X-Auth-Request-Redirect $request_uri; }`
 * and `error_page 401 = /oauth2/sign_in;`): both send the browser to portcullis' login page.
 * The destination is `?rd=`, else the `X-Auth-Request-Redirect` header a trusted proxy sets; a
 * relative one is made absolute on the host the proxy names (the app's, not portcullis'), and
 * whatever results goes through the same `rd` check as everywhere else (SPEC §3).
 */

export interface Oauth2CompatDeps {
  proxies: TrustedProxies;
  redirectPolicy: RedirectPolicy;
  /** `public_url`'s scheme (`http` or `https`), for a relative destination without a forwarded one. */
  defaultScheme: string;
  /** Public base of portcullis' pages (origin + path prefix). */
  baseUrl: string;
}

export interface Oauth2CompatRoutes {
  /** GET /oauth2/sign_in and /oauth2/start: to the login page. */
  signIn: Handler;
  /** GET /oauth2/sign_out: to the sign-out page (which asks before ending the session). */
  signOut: Handler;
}

function destination(deps: Oauth2CompatDeps, req: IncomingMessage, query: URLSearchParams): string {
  const trusted = deps.proxies.isTrusted(req.socket.remoteAddress);
  const asked =
    query.get('rd') ?? (trusted ? first(req.headers['x-auth-request-redirect']) : undefined);
  if (!asked) return '/';
  if (trusted && asked.startsWith('/') && !asked.startsWith('//')) {
    const host = first(req.headers['x-forwarded-host']) ?? req.headers.host;
    const scheme =
      first(req.headers['x-forwarded-proto']) ??
      first(req.headers['x-scheme']) ??
      deps.defaultScheme;
    if (host && (scheme === 'http' || scheme === 'https'))
      return safeRedirect(`${scheme}://${host}${asked}`, deps.redirectPolicy);
  }
  return safeRedirect(asked, deps.redirectPolicy);
}

export function oauth2CompatRoutes(deps: Oauth2CompatDeps): Oauth2CompatRoutes {
  return {
    signIn(req, res, query) {
      const rd = destination(deps, req, query);
      redirect(res, 302, loginUrl(deps.baseUrl, rd === '/' ? null : rd));
    },
    signOut(_req, res) {
      redirect(res, 302, `${deps.baseUrl}/logout`);
    },
  };
}
