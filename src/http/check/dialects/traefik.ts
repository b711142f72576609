import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Target, TargetResult } from '../../../core/target.js';
import { firstValue as first } from '../../request.js';
import { sendBody, sendEmpty } from '../../respond.js';
import {
  type Dialect,
  isNavigation,
  methodOf,
  noConstraint,
  passOnForForwardAuth,
  targets,
} from './shared.js';

/**
 * Traefik and Caddy (`/auth/traefik`, `/api/authz/forward-auth`): the `X-Forwarded-*` family,
 * which both overwrite. `Host` is not read: Traefik sends its own address there. A repeated
 * header arrives joined with `, ` and fails to parse as a host, URI, scheme or method.
 */
export function fromForwardedHeaders(headers: IncomingHttpHeaders): TargetResult | null {
  const host = first(headers['x-forwarded-host']);
  const uri = first(headers['x-forwarded-uri']);
  if (host === undefined || uri === undefined) return null;
  const scheme = first(headers['x-forwarded-proto']) ?? 'http';
  const method = methodOf(first(headers['x-forwarded-method']));
  return targets.build(scheme, host, uri, method);
}

export { isNavigation } from './shared.js';

/**
 * "Needs login" in Traefik's wording, also the reverse proxy's: a browser navigation is
 * redirected to the login page, anything else gets 401 JSON naming it (SPEC §3).
 */
export function sendLoginAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  target: Target,
  login: string,
  challenge: string[],
): void {
  if (isNavigation(req.headers)) {
    const status = target.method === 'GET' || target.method === 'HEAD' ? 302 : 303;
    sendEmpty(res, status, ['Location', login, 'Cache-Control', 'no-store']);
    return;
  }
  if (target.method === 'HEAD' || req.method === 'HEAD') {
    // A HEAD navigation has no body to show; say 401 with the login URL and nothing else.
    challenge.push('Location', login, 'Cache-Control', 'no-store');
    sendEmpty(res, 401, challenge);
    return;
  }
  challenge.push('Cache-Control', 'no-store');
  sendBody(
    req,
    res,
    401,
    'application/json; charset=utf-8',
    JSON.stringify({ error: 'unauthenticated', login_url: login }),
    challenge,
  );
}

const TOKEN_REFUSED = JSON.stringify({
  error: 'invalid_token',
  message:
    'The app token is not accepted: it is malformed, unknown, expired or revoked, or its user is deactivated.',
});

/** A refused app token: 401 JSON whatever the request looks like (no body for HEAD). */
export function sendTokenRefusal(
  req: IncomingMessage,
  res: ServerResponse,
  target: Target,
  _login: string,
  challenge: string[],
): void {
  challenge.push('Cache-Control', 'no-store');
  if (target.method === 'HEAD' || req.method === 'HEAD') {
    sendEmpty(res, 401, challenge);
    return;
  }
  sendBody(req, res, 401, 'application/json; charset=utf-8', TOKEN_REFUSED, challenge);
}

/** Traefik `forwardAuth`, Caddy `forward_auth`: 302/303 for a browser navigation, 401 JSON for API calls. */
export const traefik: Dialect = {
  name: 'traefik',
  allowStatus: 200,
  readTarget: (req) => fromForwardedHeaders(req.headers),
  constraint: noConstraint,
  sendLogin: sendLoginAnswer,
  sendTokenRefusal,
  passOn: passOnForForwardAuth,
};
