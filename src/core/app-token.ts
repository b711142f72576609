import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { compileHostGlob, compilePathGlob } from './glob.js';

/*
 * App tokens (SPEC §3 "Credentials", §4): `pcx_` + base64url of 32 random bytes, for clients that
 * cannot hold a session cookie (native apps, scripts). Only the SHA-256 of the whole token is
 * stored. The prefix makes a leaked token recognisable (secret scanners) and lets the check tell
 * a portcullis credential from the protected app's own, which must pass to the app untouched.
 */

export const APP_TOKEN_PREFIX = 'pcx_';

/** 32 random bytes: 256 bits (SPEC §4 asks for at least 256 after the prefix). */
const SECRET_BYTES = 32;

/**
 * `pcx_` + 43 base64url characters. 43 × 6 = 258 bits carry 256, so the last character's two low
 * bits are zero: only the canonical spelling of the 32 bytes is accepted, never a twin.
 */
const SHAPE = /^pcx_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** A token's full length; anything longer or shorter is refused before any store lookup. */
export const APP_TOKEN_LENGTH = APP_TOKEN_PREFIX.length + 43;

/** Random bytes, injectable so tests can mint known tokens. */
export type RandomBytes = (size: number) => Uint8Array;

export interface MintedAppToken {
  /** The secret, shown to its owner once. */
  token: string;
  /** Public id (16 hex characters) for lists and `portcullis token revoke ID`; not derived from the secret. */
  id: string;
  /** `hashAppToken(token)`: what the store keeps. */
  hash: string;
}

/** Mints a token, its public id and its stored hash. */
export function mintAppToken(random: RandomBytes = randomBytes): MintedAppToken {
  const secret = Buffer.from(random(SECRET_BYTES)).toString('base64url');
  if (secret.length !== 43) throw new Error('random source gave the wrong number of bytes');
  const token = `${APP_TOKEN_PREFIX}${secret}`;
  // Hex: an id never starts with `-`, so the CLI cannot take it for an option.
  const id = Buffer.from(random(8)).toString('hex');
  return { token, id, hash: hashAppToken(token) };
}

/** SHA-256 (hex) of the whole token, prefix included. A fast hash is enough for 256 random bits. */
export function hashAppToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** True when `value` is exactly `pcx_` + the canonical base64url of 32 bytes. */
export function isAppTokenShape(value: string): boolean {
  return value.length === APP_TOKEN_LENGTH && SHAPE.test(value);
}

/**
 * Compares two stored hashes in constant time. The store finds a record by its hash, so this only
 * guards against a record that came back under the wrong key.
 */
export function sameAppTokenHash(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

// ---------------------------------------------------------------------------------------------
// Finding a token in request headers

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

// ---------------------------------------------------------------------------------------------
// Scope

/**
 * What a token may reach; absent lists do not restrict. Globs as in `access.rules`: hosts with
 * `*` for one or more labels, paths with `*` (one segment) and `**` (any depth).
 */
export interface AppTokenScope {
  hosts?: string[];
  paths?: string[];
  methods?: string[];
}

/** The parts of a check's target a scope looks at (`core/target.ts`'s `Target` fits). */
export interface ScopeTarget {
  /** Lower-cased, no trailing dot, no port. */
  host: string;
  /** RFC 3986-normalised path. */
  path: string;
  /** Upper-case; empty when the proxy did not say. */
  method: string;
  /** The lenient reading of the path (`Target.loosePath`): when given, it must match too. */
  loosePath?: string;
  /** `Target.ambiguous`: such a path never satisfies a path scope. */
  ambiguous?: boolean;
}

interface CompiledScope {
  hosts: RegExp[] | null;
  paths: RegExp[] | null;
  methods: Set<string> | null;
}

const compiledScopes = new WeakMap<AppTokenScope, CompiledScope>();

function compileScope(scope: AppTokenScope): CompiledScope {
  let compiled = compiledScopes.get(scope);
  if (compiled === undefined) {
    compiled = {
      hosts: scope.hosts?.map(compileHostGlob) ?? null,
      paths: scope.paths?.map(compilePathGlob) ?? null,
      methods: scope.methods ? new Set(scope.methods.map((m) => m.toUpperCase())) : null,
    };
    compiledScopes.set(scope, compiled);
  }
  return compiled;
}

/**
 * May a token with `scope` be used for `target`? Null scope: anywhere its user may go (the access
 * rules still decide). A scope only narrows, so every doubt refuses: a path must match in its
 * strict and its lenient reading (case-sensitively), an ambiguous path never matches a path
 * scope, and an unknown method (empty) never matches a method scope.
 */
export function scopeAllows(scope: AppTokenScope | null, target: ScopeTarget): boolean {
  if (scope === null) return true;
  const compiled = compileScope(scope);
  if (compiled.hosts && !compiled.hosts.some((glob) => glob.test(target.host))) return false;
  if (compiled.paths) {
    if (target.ambiguous === true) return false;
    const loose = target.loosePath;
    const matches = (glob: RegExp) =>
      glob.test(target.path) && (loose === undefined || glob.test(loose));
    if (!compiled.paths.some(matches)) return false;
  }
  if (
    compiled.methods &&
    (target.method === '' || !compiled.methods.has(target.method.toUpperCase()))
  )
    return false;
  return true;
}

const HOST_GLOB = /^[a-z0-9_*-]+(?:\.[a-z0-9_*-]+)*\.?$/;
const METHOD = /^[A-Z]{1,16}$/;

/** Checks a scope from a form or the API; returns what is wrong, or null when it is usable. */
export function scopeProblem(scope: AppTokenScope): string | null {
  const lists: [string, string[] | undefined][] = [
    ['hosts', scope.hosts],
    ['paths', scope.paths],
    ['methods', scope.methods],
  ];
  for (const [name, list] of lists) {
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length === 0)
      return `${name}: give at least one, or leave it out`;
    if (list.length > 32) return `${name}: at most 32`;
    for (const item of list) {
      if (typeof item !== 'string' || item.length === 0 || item.length > 256)
        return `${name}: each entry is 1 to 256 characters`;
    }
  }
  for (const host of scope.hosts ?? []) {
    if (!HOST_GLOB.test(host.toLowerCase())) return `hosts: "${host}" is not a host name or glob`;
  }
  for (const path of scope.paths ?? []) {
    if (!path.startsWith('/') || /[\s?#\\]/.test(path))
      return `paths: "${path}" must start with / and hold no spaces, ?, # or \\`;
  }
  for (const method of scope.methods ?? []) {
    if (!METHOD.test(method.toUpperCase())) return `methods: "${method}" is not an HTTP method`;
  }
  return null;
}
