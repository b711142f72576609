/**
 * CORS for cross-origin clients of the protected app (`cors.allowed_origins`): the Obsidian
 * plugin (`app://obsidian.md`, `capacitor://localhost`, `http://localhost`), browser extensions,
 * a web front end on another host. Two things only (issue 13):
 *
 * - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`, Fetch §3.2.2) from
 *   an allowed origin passes without a credential. Browsers never attach credentials to a
 *   preflight, so refusing it means the client can never even see why its real request failed.
 *   The app behind answers it (it knows which methods and headers it takes); portcullis lets it
 *   through as nobody: no identity headers, no session is read. oauth2-proxy's
 *   `--skip-auth-preflight` does the same, for every origin; this is narrower.
 * - A 401 to an allowed origin carries `Access-Control-Allow-Origin`, so the client can read the
 *   answer and show "token needed", and `WWW-Authenticate: Bearer realm="portcullis"` (RFC 6750
 *   §3) says what would be accepted.
 *
 * Any other origin gets nothing extra. Origins compare exactly (after lower-casing: browsers
 * serialise them in lower case, RFC 6454 §6.2), never by prefix or pattern.
 */

/** `cors.allowed_origins`, ready to compare. */
export type AllowedOrigins = ReadonlySet<string>;

export function allowedOriginsFrom(origins: readonly string[]): AllowedOrigins {
  return new Set(origins.map((origin) => origin.toLowerCase()));
}

type HeaderValue = string | readonly string[] | undefined;

function single(value: HeaderValue): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string') return value.length === 1 ? (value[0] ?? null) : null;
  return value;
}

/**
 * The request's `Origin` when it is exactly one allowed origin, else null. A repeated Origin
 * (node joins some repeats with ", ") or `null` never matches.
 */
export function allowedOrigin(origin: HeaderValue, allowed: AllowedOrigins): string | null {
  if (allowed.size === 0) return null;
  const value = single(origin);
  if (value === null || value.length > 256) return null;
  const lower = value.toLowerCase();
  return allowed.has(lower) ? lower : null;
}

/**
 * A CORS preflight from an allowed origin: method OPTIONS, an allowed `Origin`, and an
 * `Access-Control-Request-Method` that is a method token. `method` is the method of the request
 * being checked (the dialect's method header, or the request's own in proxy mode).
 */
export function isAllowedPreflight(
  method: string | null,
  origin: HeaderValue,
  requestMethod: HeaderValue,
  allowed: AllowedOrigins,
): boolean {
  if (method !== 'OPTIONS') return false;
  const wanted = single(requestMethod);
  if (wanted === null || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/.test(wanted)) return false;
  return allowedOrigin(origin, allowed) !== null;
}

/** The realm every portcullis 401 names (RFC 6750 §3). */
export const BEARER_CHALLENGE = 'Bearer realm="portcullis"';

/**
 * Headers (a flat name, value list) for a 401 to `origin`: readable by the client's script,
 * which learns from `WWW-Authenticate` that a bearer token is wanted. Empty when the origin is
 * not allowed.
 */
export function corsRefusalHeaders(origin: string | null): string[] {
  if (origin === null) return [];
  return [
    'Access-Control-Allow-Origin',
    origin,
    'Access-Control-Expose-Headers',
    'WWW-Authenticate',
    'Vary',
    'Origin',
  ];
}
