import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { IdentityConstraint } from '../../../core/decide.js';
import type { HeaderNames } from '../../../core/identity-headers.js';
import type { Target, TargetResult } from '../../../core/target.js';
import { TargetCache } from '../../../core/target-cache.js';
import { firstValue as first } from '../../request.js';
import { sendEmpty } from '../../respond.js';
import type { CheckRequest } from '../pipeline.js';

/** One way of saying "log in" or "token refused" (`challenge`: the headers a 401 carries). */
export type SendAnswer = (
  req: IncomingMessage,
  res: ServerResponse,
  target: Target,
  login: string,
  challenge: string[],
) => void;

/**
 * What differs between the proxies portcullis answers (SPEC §3): which headers name the request
 * asked about, the status of "let in", how "log in" is said, and any constraint the request
 * itself carries. The decision and everything else is the check pipeline's.
 */
export interface Dialect {
  /** The metrics label. */
  readonly name: 'nginx' | 'traefik' | 'oauth2' | 'verify';
  readonly allowStatus: 200 | 202;
  /** The target a trusted proxy asked about; null when its headers are missing, a refusal when they contradict each other. */
  readTarget(req: CheckRequest): TargetResult | null;
  /** A constraint the check request adds to the policy, or null. */
  constraint(req: CheckRequest): IdentityConstraint | null;
  /**
   * "Needs login", in this dialect's words. `challenge` holds the headers any 401 carries
   * (`WWW-Authenticate`, CORS for an allowed origin); a redirect leaves them out.
   */
  sendLogin: SendAnswer;
  /**
   * "The app token is refused": always a 401, never a redirect (a native app or a script cannot
   * follow one to a login page), with `challenge`.
   */
  sendTokenRefusal: SendAnswer;
  /**
   * Headers (a flat name, value list) that a 2xx answer adds so the proxy hands the app the
   * request's own `Authorization` and nothing of a portcullis token (`strip`: the lower-case
   * names that held one). Null when a value cannot be written back as it came: the check must
   * then refuse (400), never let in without stripping. Only ever on a 2xx: a 401/403 echoes no
   * credential.
   */
  passOn(req: CheckRequest, strip: readonly string[]): readonly string[] | null;
}

/** Parsed targets of every check in this process (see TargetCache). */
export const targets = new TargetCache();

/**
 * The method a proxy forwarded, upper-cased; an empty string (unknown, not GET) when it sent
 * none. Proxies send it upper-case already, and a comparison is cheaper than `toUpperCase`,
 * which V8 runs in its runtime.
 */
export function methodOf(value: string | undefined): string {
  if (value === 'GET' || value === undefined) return value ?? '';
  return value.toUpperCase();
}

export function refused(reason: string): TargetResult {
  return { ok: false, reason };
}

/**
 * The Host header, or a refusal when the request carries more than one (node keeps the first
 * and drops the rest; a proxy may have read the other one).
 */
export function singleHost(req: CheckRequest): string | TargetResult | undefined {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') seen++;
  }
  return seen > 1 ? refused('more than one Host header') : req.headers.host;
}

export function sameHost(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

export function noConstraint(): null {
  return null;
}

/** A browser navigation gets a redirect; fetch/XHR/API clients get a 401 they can read (SPEC §3). */
export function isNavigation(headers: IncomingHttpHeaders): boolean {
  const mode = first(headers['sec-fetch-mode']);
  if (mode !== undefined && mode !== 'navigate') return false;
  if (headers['x-requested-with'] !== undefined) return false;
  const accept = headers.accept;
  return accept?.includes('text/html') === true;
}

/**
 * nginx's wording for "log in" (a 302 from `auth_request` becomes a 500): 401, with `Location`
 * naming the login page when a redirect is what the client needs. nginx's
 * `error_page 401 = @portcullis_401` redirects when it got a Location and otherwise hands the 401
 * on with `WWW-Authenticate` and the CORS headers, so a cross-origin script (an allowed origin,
 * not a navigation) can read "token needed" instead of following a redirect it cannot use.
 * Everyone else, browsers above all, keeps the Location SPEC §3 promises.
 */
export function sendLoginLocation(
  req: IncomingMessage,
  res: ServerResponse,
  _target: Target,
  login: string,
  challenge: string[],
): void {
  if (!answersAllowedOrigin(challenge) || isNavigation(req.headers)) {
    challenge.push('Location', login);
  }
  challenge.push('Cache-Control', 'no-store');
  sendEmpty(res, 401, challenge);
}

/**
 * A refused app token in nginx's wording: 401 with the challenge and never a Location. The
 * client is an app or a script; a redirect to a sign-in page would hide why it was refused.
 * (`auth_request` reads only the status and what `auth_request_set` picks: no body.)
 */
export function sendChallenge(
  _req: IncomingMessage,
  res: ServerResponse,
  _target: Target,
  _login: string,
  challenge: string[],
): void {
  challenge.push('Cache-Control', 'no-store');
  sendEmpty(res, 401, challenge);
}

/**
 * Which identity header names a check path answers with. portcullis' own paths send exactly the
 * configured `headers:`; the compatibility paths always add the names the tool they stand in for
 * sends (SPEC §3), so a migrated proxy config keeps working whatever `headers:` says.
 */
export interface CheckNames {
  names: HeaderNames;
  /** oauth2-proxy also sends X-Auth-Request-Preferred-Username: the username. */
  preferredUsername: boolean;
  /** Per-session memo key of the prepared answer built from these names. */
  memoKey: string;
}

function union(configured: readonly string[], required: readonly string[]): string[] {
  const out = [...configured];
  for (const name of required) {
    if (!out.some((known) => known.toLowerCase() === name.toLowerCase())) out.push(name);
  }
  return out;
}

/** The configured names plus a compatibility family's own (`required`). */
export function familyNames(
  configured: HeaderNames,
  family: string,
  required: HeaderNames,
  preferredUsername: boolean,
): CheckNames {
  return {
    names: {
      user: union(configured.user, required.user),
      email: union(configured.email, required.email),
      name: union(configured.name, required.name),
      groups: union(configured.groups, required.groups),
      groupsFilter: configured.groupsFilter,
      userValue: configured.userValue,
    },
    preferredUsername,
    memoKey: `allow-headers:${family}`,
  };
}

/**
 * What nginx's 2xx answer carries (`auth_request_set $pc_authorization
 * $upstream_http_x_portcullis_authorization; proxy_set_header Authorization $pc_authorization;`):
 * the `Authorization` the app should see, absent when it held a portcullis token or there was
 * none. nginx drops a header set to an empty value, so the token never reaches the app, and an
 * answer without this header (an older portcullis, a 401) fails closed: no Authorization at all.
 */
export const APP_AUTHORIZATION = 'X-Portcullis-Authorization';

const NOTHING: readonly string[] = [];

/**
 * Values node:http writes back byte for byte: its parser hands over header values as latin1
 * (obs-text 0x80-0xFF included, CR/LF/NUL refused), so a value from a real socket always
 * passes; one built in-process with other characters does not, and `writeHead` would throw.
 */
const SENDABLE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The request's own lines of `name` (lower-case), in the order sent, as `as`/value pairs
 * appended to `out`; false when one of them cannot be written back unchanged.
 */
function appendLines(req: CheckRequest, name: string, as: string, out: string[]): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i] as string;
    if (key.length !== name.length || key.toLowerCase() !== name) continue;
    const value = raw[i + 1] as string;
    if (!SENDABLE.test(value)) return false;
    out.push(as, value);
  }
  return true;
}

/**
 * nginx's pass-on (`/auth/nginx`, `/api/authz/auth-request`, `/oauth2/auth`): the request's
 * `Authorization` under `X-Portcullis-Authorization`, unless it held the token.
 */
export function passOnForNginx(
  req: CheckRequest,
  strip: readonly string[],
): readonly string[] | null {
  if (req.headers.authorization === undefined || strip.includes('authorization')) return NOTHING;
  const out: string[] = [];
  return appendLines(req, 'authorization', APP_AUTHORIZATION, out) ? out : null;
}

/**
 * Traefik's pass-on (`/auth/traefik`, `/api/authz/forward-auth`; Caddy through a rename): the
 * request's own `Authorization` and `Proxy-Authorization`, unless they held the token. Traefik
 * deletes every `authResponseHeaders` name from the forwarded request and sets back only those
 * the 2xx answer carries (pkg/middlewares/auth/forward.go, v3):
 *
 *     for _, headerName := range fa.authResponseHeaders {
 *         headerKey := http.CanonicalHeaderKey(headerName)
 *         req.Header.Del(headerKey)
 *         if len(forwardResponse.Header[headerKey]) > 0 {
 *             req.Header[headerKey] = append([]string(nil), forwardResponse.Header[headerKey]...)
 *         }
 *     }
 *
 * so with `Authorization` listed there an echoed credential reaches the app unchanged and an
 * omitted one (the token) does not.
 */
export function passOnForForwardAuth(
  req: CheckRequest,
  strip: readonly string[],
): readonly string[] | null {
  const headers = req.headers;
  const authorization = headers.authorization !== undefined && !strip.includes('authorization');
  const proxy =
    headers['proxy-authorization'] !== undefined && !strip.includes('proxy-authorization');
  if (!authorization && !proxy) return NOTHING;
  const out: string[] = [];
  if (authorization && !appendLines(req, 'authorization', 'Authorization', out)) return null;
  if (proxy && !appendLines(req, 'proxy-authorization', 'Proxy-Authorization', out)) return null;
  return out;
}

/** True when a 401's challenge carries CORS headers, i.e. it answers an allowed origin. */
export function answersAllowedOrigin(challenge: readonly string[]): boolean {
  for (let i = 0; i < challenge.length; i += 2) {
    if (challenge[i] === 'Access-Control-Allow-Origin') return true;
  }
  return false;
}
