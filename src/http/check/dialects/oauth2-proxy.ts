import type { IdentityConstraint } from '../../../core/decide.js';
import { compileEmailGlob } from '../../../core/glob.js';
import type { HeaderNames } from '../../../core/identity-headers.js';
import type { TargetResult } from '../../../core/target.js';
import { firstValue as first } from '../../request.js';
import type { CheckRequest } from '../pipeline.js';
import {
  type CheckNames,
  type Dialect,
  familyNames,
  methodOf,
  passOnForNginx,
  refused,
  sameHost,
  sendChallenge,
  sendLoginLocation,
  singleHost,
  targets,
} from './shared.js';

/**
 * oauth2-proxy (`/oauth2/auth`) reads `X-Forwarded-Uri`, `X-Forwarded-Proto` and
 * `X-Forwarded-Host` else `Host` (pkg/requests/util). Its documented nginx setup sets `Host` and
 * `X-Forwarded-Uri` and passes a client's `X-Forwarded-Host` through, so one that names another
 * host than `Host` is refused rather than believed. `X-Original-URL` is never read here.
 */
function fromOauth2Headers(req: CheckRequest): TargetResult | null {
  const headers = req.headers;
  const uri = first(headers['x-forwarded-uri']);
  if (uri === undefined) return null;
  const host = singleHost(req);
  if (host !== undefined && typeof host !== 'string') return host;
  const forwardedHost = first(headers['x-forwarded-host']);
  if (forwardedHost !== undefined && host !== undefined && !sameHost(forwardedHost, host)) {
    return refused('X-Forwarded-Host disagrees with Host');
  }
  const targetHost = host ?? forwardedHost;
  if (targetHost === undefined) return null;
  const scheme = first(headers['x-forwarded-proto']) ?? 'http';
  const method = methodOf(first(headers['x-forwarded-method']));
  return targets.build(scheme, targetHost, uri, method);
}

/**
 * oauth2-proxy's `/oauth2/auth?allowed_groups=…&allowed_emails=…&allowed_email_domains=…`:
 * comma-separated lists the signed-in user must also match, evaluated by `decide` beside the
 * rules so a denial carries its reason.
 */
function allowedParameters(req: CheckRequest): IdentityConstraint | null {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q === -1) return null;
  const params = new URLSearchParams(url.slice(q + 1));
  const list = (name: string) => {
    const value = params.get(name);
    return value
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : null;
  };
  const groups = list('allowed_groups');
  const emails = list('allowed_emails')?.map(compileEmailGlob) ?? null;
  const domains =
    list('allowed_email_domains')?.map((d) => d.toLowerCase().replace(/^\*?\./, '')) ?? null;
  if (!groups && !emails && !domains) return null;
  return { groups, emails, domains, reason: 'oauth2 allowed_* parameters' };
}

/** oauth2-proxy's `/oauth2/auth`: 202 when allowed, 401 with Location for "log in". */
export const oauth2Proxy: Dialect = {
  name: 'oauth2',
  allowStatus: 202,
  readTarget: fromOauth2Headers,
  constraint: allowedParameters,
  sendLogin: sendLoginLocation,
  sendTokenRefusal: sendChallenge,
  // Its documented setup is nginx `auth_request`: the same pass-on as /auth/nginx.
  passOn: passOnForNginx,
};

const OAUTH2_PROXY_NAMES: HeaderNames = {
  user: ['X-Auth-Request-User'],
  email: ['X-Auth-Request-Email'],
  name: [],
  groups: ['X-Auth-Request-Groups'],
};

/** oauth2-proxy's header family, added to the configured names; it also sends the preferred username. */
export function oauth2ProxyNames(configured: HeaderNames): CheckNames {
  return familyNames(configured, 'oauth2-proxy', OAUTH2_PROXY_NAMES, true);
}
