import { APP_TOKEN_LENGTH, APP_TOKEN_PREFIX, isAppTokenShape } from './app-token.js';

/*
 * Finding a portcullis app token in request headers (SPEC §3 "Credentials"), and telling it from
 * the protected app's own credentials, which must pass to the app untouched.
 */

/** Where a token was found. */
export type AppTokenSource =
  | 'authorization-bearer'
  | 'authorization-basic'
  | 'proxy-authorization-bearer'
  | 'proxy-authorization-basic'
  | 'header';

/** Request headers as node:http gives them: lower-case names, repeated ones as arrays. */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * - `token`: exactly one well-formed token (it may appear in several places, always the same).
 * - `invalid`: something meant for portcullis is there but unusable (malformed, two different
 *   tokens, a token beside another credential in one header, …): the check must refuse (401),
 *   never fall back to the cookie or to the first token, and never forward it to the app.
 * Both name the headers to remove before the request goes upstream (`strip`, lower-case).
 */
export type ExtractedAppToken =
  | { kind: 'token'; token: string; source: AppTokenSource; strip: string[] }
  | { kind: 'invalid'; reason: string; strip: string[] };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The start of a credential meant for portcullis; case-blind so `PCX_…` is not forwarded either. */
function looksOurs(value: string): boolean {
  return value.length >= 4 && value.slice(0, 4).toLowerCase() === APP_TOKEN_PREFIX;
}

function headerValue(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  // Repeated headers: node joins most with ", " itself; an array is joined the same way.
  return typeof value === 'string' ? value : value.join(', ');
}

type Found =
  | { kind: 'none' }
  | { kind: 'token'; token: string; scheme: 'bearer' | 'basic' }
  | { kind: 'invalid'; reason: string };

const NONE: Found = { kind: 'none' };

/** The password of a Basic credential, or null when it is not well-formed base64 of `user:pass`. */
function basicParts(param: string): { user: string; password: string } | null {
  if (param.length % 4 !== 0 || !BASE64.test(param)) return null;
  const decoded = Buffer.from(param, 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * One `Authorization`-style header (RFC 9110 §11.6.2: one credential, `scheme SP token68`).
 * Several credentials joined by ", " (a repeated header) are split; a token beside anything
 * else, or two tokens, is invalid: which one was meant is not ours to guess.
 */
function fromAuthorization(raw: string): Found {
  // The common case, one `Bearer pcx_…` and nothing else, without splitting: the answer the
  // general path below gives it, at a fraction of the allocations (the check's hot path).
  if (
    raw.length === 7 + APP_TOKEN_LENGTH &&
    raw.charCodeAt(6) === 32 &&
    raw.slice(0, 6).toLowerCase() === 'bearer'
  ) {
    const param = raw.slice(7);
    if (isAppTokenShape(param)) return { kind: 'token', token: param, scheme: 'bearer' };
  }
  const items = raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  let found: Found = NONE;
  let ours = 0;
  for (const item of items) {
    const space = item.search(/[ \t]/);
    const scheme = space < 0 ? '' : item.slice(0, space).toLowerCase();
    const param = space < 0 ? item : item.slice(space).trim();
    let verdict: Found = NONE;
    if (looksOurs(param) || looksOurs(item)) {
      verdict =
        scheme === 'bearer' && isAppTokenShape(param)
          ? { kind: 'token', token: param, scheme: 'bearer' }
          : {
              kind: 'invalid',
              reason: scheme === 'bearer' ? 'malformed token' : 'token without Bearer or Basic',
            };
    } else if (scheme === 'basic') {
      const parts = basicParts(param);
      if (parts && looksOurs(parts.password)) {
        verdict = isAppTokenShape(parts.password)
          ? { kind: 'token', token: parts.password, scheme: 'basic' }
          : { kind: 'invalid', reason: 'malformed token' };
      } else if (parts && looksOurs(parts.user)) {
        // Ours (it would otherwise reach the app), but SPEC §3 takes the token as the password.
        verdict = { kind: 'invalid', reason: 'token as the Basic user name, not the password' };
      }
    }
    if (verdict.kind === 'none') continue;
    ours += 1;
    found = verdict;
  }
  if (ours === 0) return NONE;
  if (ours > 1 || items.length > 1)
    return { kind: 'invalid', reason: 'a token beside another credential' };
  return found;
}

/** The configured header carries the bare token (`X-Portcullis-Token: pcx_…`), nothing else. */
function fromTokenHeader(raw: string): Found {
  const value = raw.trim();
  if (value === '') return NONE;
  return isAppTokenShape(value)
    ? { kind: 'token', token: value, scheme: 'bearer' }
    : { kind: 'invalid', reason: 'malformed token' };
}

/**
 * Finds a portcullis app token in the request headers: `Authorization: Bearer pcx_…`, the
 * password of `Authorization: Basic` (any user part), the same two in `Proxy-Authorization`, or
 * the bare token in `tokenHeader` (`tokens.header`, null when none is configured). Returns null
 * when there is none: then any `Authorization` belongs to the app and passes untouched. A token
 * found in several places must be the same token everywhere.
 */
export function extractAppToken(
  headers: HeaderBag,
  tokenHeader: string | null,
): ExtractedAppToken | null {
  const authorization = headerValue(headers, 'authorization');
  const proxyAuthorization = headerValue(headers, 'proxy-authorization');
  const custom = tokenHeader === null ? undefined : headerValue(headers, tokenHeader.toLowerCase());
  if (authorization === undefined && proxyAuthorization === undefined && custom === undefined)
    return null;

  const places: { header: string; found: Found; source: AppTokenSource }[] = [];
  if (authorization !== undefined) {
    const found = fromAuthorization(authorization);
    if (found.kind !== 'none')
      places.push({
        header: 'authorization',
        found,
        source:
          found.kind === 'token' && found.scheme === 'basic'
            ? 'authorization-basic'
            : 'authorization-bearer',
      });
  }
  if (proxyAuthorization !== undefined) {
    const found = fromAuthorization(proxyAuthorization);
    if (found.kind !== 'none')
      places.push({
        header: 'proxy-authorization',
        found,
        source:
          found.kind === 'token' && found.scheme === 'basic'
            ? 'proxy-authorization-basic'
            : 'proxy-authorization-bearer',
      });
  }
  const customName = tokenHeader?.toLowerCase();
  if (custom !== undefined && customName !== undefined) {
    const found = fromTokenHeader(custom);
    if (found.kind !== 'none') places.push({ header: customName, found, source: 'header' });
  }
  if (places.length === 0) return null;

  // The configured header is ours whatever it holds: it never reaches the app.
  const strip = places.map((place) => place.header);
  if (customName !== undefined && custom !== undefined && !strip.includes(customName))
    strip.push(customName);

  let chosen: { token: string; source: AppTokenSource } | null = null;
  for (const place of places) {
    if (place.found.kind === 'invalid')
      return { kind: 'invalid', reason: place.found.reason, strip };
    if (place.found.kind !== 'token') continue;
    if (chosen === null) chosen = { token: place.found.token, source: place.source };
    else if (chosen.token !== place.found.token)
      return { kind: 'invalid', reason: 'different tokens in different headers', strip };
  }
  if (chosen === null) return null;
  return { kind: 'token', token: chosen.token, source: chosen.source, strip };
}

/**
 * The headers to remove before a request goes upstream: those that held a portcullis token
 * (valid or not) and the configured token header whenever it is present. Every other header,
 * any other `Authorization` included, is left as it is.
 */
export function appTokenHeadersToStrip(headers: HeaderBag, tokenHeader: string | null): string[] {
  const extracted = extractAppToken(headers, tokenHeader);
  if (extracted) return extracted.strip;
  const custom = tokenHeader?.toLowerCase();
  return custom !== undefined && headers[custom] !== undefined ? [custom] : [];
}
