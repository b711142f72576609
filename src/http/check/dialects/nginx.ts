import { parseHost, type TargetResult } from '../../../core/target.js';
import { firstValue as first } from '../../request.js';
import type { CheckRequest } from '../pipeline.js';
import {
  type Dialect,
  methodOf,
  noConstraint,
  passOnForNginx,
  refused,
  sendChallenge,
  sendLoginLocation,
  singleHost,
  targets,
} from './shared.js';

/**
 * Where the path and query start in an absolute URL (`scheme://authority/...`), for comparing
 * it with a request-target.
 */
function requestTargetOf(url: string): string {
  const authority = url.indexOf('://');
  const slash = url.slice(authority + 3).search(/[/?#]/);
  if (slash === -1) return '/';
  const rest = url.slice(authority + 3 + slash);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * nginx (`/auth/nginx`, `/api/authz/auth-request`): `X-Original-URL` + `X-Original-Method`,
 * which its `auth_request` location sets; or `X-Original-URI` with the `Host` nginx passes. A
 * proxy sets one form and passes the other through from the client, so both present must name
 * the same request (host included), else it is a contradiction and the answer is 400.
 */
export function fromNginxHeaders(req: CheckRequest): TargetResult | null {
  const headers = req.headers;
  const method = methodOf(first(headers['x-original-method']));
  const original = first(headers['x-original-url']);
  const uri = first(headers['x-original-uri']);
  if (original !== undefined) {
    const result = targets.absolute(original, method);
    if (result.ok && uri !== undefined) {
      const host = singleHost(req);
      if (
        uri !== requestTargetOf(original) ||
        typeof host !== 'string' ||
        parseHost(host)?.host !== result.target.host
      ) {
        return refused('X-Original-URI + Host disagree with X-Original-URL');
      }
    }
    return result;
  }
  if (uri === undefined) return null;
  const host = singleHost(req);
  if (host === undefined) return null;
  if (typeof host !== 'string') return host;
  // The scheme only shapes the login redirect's `rd`; it never changes a decision.
  const scheme = first(headers['x-forwarded-proto']) ?? first(headers['x-scheme']) ?? 'http';
  return targets.build(scheme, host, uri, method);
}

/**
 * nginx `auth_request`: 401 with Location for "log in" (nginx turns a 302 into a 500), 401
 * without one for a refused token; a 2xx passes the app's own Authorization on.
 */
export const nginx: Dialect = {
  name: 'nginx',
  allowStatus: 200,
  readTarget: fromNginxHeaders,
  constraint: noConstraint,
  sendLogin: sendLoginLocation,
  sendTokenRefusal: sendChallenge,
  passOn: passOnForNginx,
};
