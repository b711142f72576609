import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { readCookie } from '../core/cookies.js';
import { type Decision, decide } from '../core/decide.js';
import { PortcullisError } from '../core/errors.js';
import { compileEmailGlob } from '../core/glob.js';
import type { Identity } from '../core/identity.js';
import { type HeaderNames, identityHeaders } from '../core/identity-headers.js';
import { parseHost, type Target, type TargetResult, targetUrl } from '../core/target.js';
import { TargetCache } from '../core/target-cache.js';
import { StoreUnavailableError } from '../ports/store.js';
import type { Lookup } from '../services/sessions.js';
import type { AppContext } from './context.js';
import { sendProblem } from './pages.js';
import { firstValue as first, isTrusted } from './request.js';
import { sendBody, sendEmpty, sendPreparedEmpty } from './respond.js';

/**
 * The proxy dialects: each reads the original request from its own headers (normalise at the
 * edge) and words the same decision its own way.
 *  - nginx: 401 with Location (nginx turns a 302 from auth_request into a 500);
 *  - traefik: 302/303 for a browser navigation, 401 JSON for API calls;
 *  - oauth2: oauth2-proxy's /oauth2/auth (202 when allowed);
 *  - verify: Authelia's legacy /api/verify, nginx wording when X-Original-URL is present.
 */
export type Dialect = 'nginx' | 'traefik' | 'oauth2' | 'verify';

/** Parsed targets of every check in this process (see TargetCache). */
const targets = new TargetCache();

/**
 * The method a proxy forwarded, upper-cased; an empty string (unknown, not GET) when it sent
 * none. Proxies send it upper-case already, and a comparison is cheaper than `toUpperCase`,
 * which V8 runs in its runtime.
 */
function methodOf(value: string | undefined): string {
  if (value === 'GET' || value === undefined) return value ?? '';
  return value.toUpperCase();
}

function refused(reason: string): TargetResult {
  return { ok: false, reason };
}

/**
 * The Host header, or a refusal when the request carries more than one (node keeps the first
 * and drops the rest; a proxy may have read the other one).
 */
function singleHost(req: IncomingMessage): string | TargetResult | undefined {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') seen++;
  }
  return seen > 1 ? refused('more than one Host header') : req.headers.host;
}

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
function fromNginxHeaders(req: IncomingMessage): TargetResult | null {
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
 * Traefik and Caddy (`/auth/traefik`, `/api/authz/forward-auth`): the `X-Forwarded-*` family,
 * which both overwrite. `Host` is not read: Traefik sends its own address there. A repeated
 * header arrives joined with `, ` and fails to parse as a host, URI, scheme or method.
 */
function fromForwardedHeaders(headers: IncomingHttpHeaders): TargetResult | null {
  const host = first(headers['x-forwarded-host']);
  const uri = first(headers['x-forwarded-uri']);
  if (host === undefined || uri === undefined) return null;
  const scheme = first(headers['x-forwarded-proto']) ?? 'http';
  const method = methodOf(first(headers['x-forwarded-method']));
  return targets.build(scheme, host, uri, method);
}

/**
 * oauth2-proxy (`/oauth2/auth`) reads `X-Forwarded-Uri`, `X-Forwarded-Proto` and
 * `X-Forwarded-Host` else `Host` (pkg/requests/util). Its documented nginx setup sets `Host` and
 * `X-Forwarded-Uri` and passes a client's `X-Forwarded-Host` through, so one that names another
 * host than `Host` is refused rather than believed. `X-Original-URL` is never read here.
 */
function fromOauth2Headers(req: IncomingMessage): TargetResult | null {
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

function sameHost(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

/**
 * Authelia's legacy `/api/verify` takes nginx's family or the forwarded one. Authelia's own
 * nginx snippets send both, naming the same request, so both may be present; then they must
 * agree on host, port, path, query and method, else the answer is 400. With nginx's family the
 * method is `X-Original-Method` only: an `X-Forwarded-Method` beside it may be the client's.
 */
function fromVerifyHeaders(req: IncomingMessage): TargetResult | null {
  const headers = req.headers;
  if (!readsLikeNginx(headers)) return fromForwardedHeaders(headers);
  const nginx = fromNginxHeaders(req);
  if (nginx === null || !nginx.ok) return nginx;
  const method = first(headers['x-forwarded-method']);
  if (
    method !== undefined &&
    nginx.target.method !== '' &&
    methodOf(method) !== nginx.target.method
  ) {
    return refused('X-Forwarded-Method disagrees with X-Original-Method');
  }
  if (headers['x-forwarded-host'] === undefined && headers['x-forwarded-uri'] === undefined) {
    return nginx;
  }
  const forwarded = fromForwardedHeaders(headers);
  if (forwarded === null) return refused('incomplete X-Forwarded-* beside X-Original-*');
  if (!forwarded.ok) return forwarded;
  const a = nginx.target;
  const b = forwarded.target;
  if (a.host !== b.host || a.port !== b.port || a.rawPath !== b.rawPath || a.query !== b.query) {
    return refused('X-Original-* and X-Forwarded-* name different requests');
  }
  return nginx;
}

/**
 * Reads the target a trusted proxy asked about, from exactly the headers that dialect's proxy
 * sets (SPEC §3); null when they are missing, a refusal when they contradict each other.
 */
export function readTarget(dialect: Dialect, req: IncomingMessage): TargetResult | null {
  switch (dialect) {
    case 'nginx':
      return fromNginxHeaders(req);
    case 'traefik':
      return fromForwardedHeaders(req.headers);
    case 'oauth2':
      return fromOauth2Headers(req);
    case 'verify':
      return fromVerifyHeaders(req);
  }
}

/** Authelia's legacy /api/verify: nginx's headers (either form) mean nginx asked. */
function readsLikeNginx(headers: IncomingHttpHeaders): boolean {
  return headers['x-original-url'] !== undefined || headers['x-original-uri'] !== undefined;
}

/** A browser navigation gets a redirect; fetch/XHR/API clients get 401 JSON (SPEC §3). */
export function isNavigation(headers: IncomingHttpHeaders): boolean {
  const mode = first(headers['sec-fetch-mode']);
  if (mode !== undefined && mode !== 'navigate') return false;
  if (headers['x-requested-with'] !== undefined) return false;
  const accept = headers.accept;
  return accept !== undefined && accept.includes('text/html');
}

export function loginUrl(ctx: AppContext, rd: string | null): string {
  return rd === null ? `${ctx.baseUrl}/login` : `${ctx.baseUrl}/login?rd=${encodeURIComponent(rd)}`;
}

interface OAuth2Constraints {
  groups: string[] | null;
  emails: RegExp[] | null;
  domains: string[] | null;
}

function oauth2Constraints(url: string): OAuth2Constraints | null {
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
  return { groups, emails, domains };
}

function passesOauth2(constraints: OAuth2Constraints, identity: Identity): boolean {
  if (constraints.groups && !constraints.groups.some((g) => identity.groups.includes(g)))
    return false;
  const email = identity.email.toLowerCase();
  if (constraints.emails && !constraints.emails.some((re) => re.test(email))) return false;
  if (constraints.domains) {
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (!constraints.domains.includes(domain)) return false;
  }
  return true;
}

/** The identity headers for `identity`, computed once per live session; the caller may append to the copy. */
export function headersFor(ctx: AppContext, identity: Identity, lookup: Lookup | null): string[] {
  if (lookup?.kind === 'valid' && identity === lookup.live.identity) {
    let cached = lookup.live.memo.get('headers') as string[] | undefined;
    if (!cached) {
      cached = identityHeaders(ctx.headerNames, identity);
      lookup.live.memo.set('headers', cached);
    }
    return cached.slice();
  }
  return identityHeaders(ctx.headerNames, identity);
}

/**
 * Which identity header names a check path answers with. portcullis' own paths send exactly the
 * configured `headers:`; the compatibility paths always add the names the tool they stand in for
 * sends (SPEC §3), so a migrated proxy config keeps working whatever `headers:` says.
 */
export interface CheckNames {
  names: HeaderNames;
  /** oauth2-proxy also sends the e-mail's local part as X-Auth-Request-Preferred-Username. */
  preferredUsername: boolean;
  /** Per-session memo key of the prepared answer built from these names. */
  memoKey: string;
}

const OAUTH2_PROXY_NAMES: HeaderNames = {
  user: ['X-Auth-Request-User'],
  email: ['X-Auth-Request-Email'],
  name: [],
  groups: ['X-Auth-Request-Groups'],
};
const AUTHELIA_NAMES: HeaderNames = {
  user: ['Remote-User'],
  email: ['Remote-Email'],
  name: ['Remote-Name'],
  groups: ['Remote-Groups'],
};

function union(configured: readonly string[], required: readonly string[]): string[] {
  const out = [...configured];
  for (const name of required) {
    if (!out.some((known) => known.toLowerCase() === name.toLowerCase())) out.push(name);
  }
  return out;
}

export function checkNames(
  configured: HeaderNames,
  family: 'portcullis' | 'oauth2-proxy' | 'authelia',
): CheckNames {
  if (family === 'portcullis')
    return { names: configured, preferredUsername: false, memoKey: 'allow-headers' };
  const required = family === 'oauth2-proxy' ? OAUTH2_PROXY_NAMES : AUTHELIA_NAMES;
  return {
    names: {
      user: union(configured.user, required.user),
      email: union(configured.email, required.email),
      name: union(configured.name, required.name),
      groups: union(configured.groups, required.groups),
      groupsFilter: configured.groupsFilter,
    },
    preferredUsername: family === 'oauth2-proxy',
    memoKey: `allow-headers:${family}`,
  };
}

/** The whole header list of an allowed answer for `identity`, Content-Length included. */
function allowedAnswer(names: CheckNames, identity: Identity): string[] {
  const headers = identityHeaders(names.names, identity);
  if (names.preferredUsername) {
    headers.push('X-Auth-Request-Preferred-Username', identity.email.split('@')[0] as string);
  }
  headers.push('Content-Length', '0');
  return headers;
}

/**
 * `allowedAnswer` for this live session, built once and handed to `writeHead` as is: the common
 * answer allocates no header array.
 */
function allowHeaders(names: CheckNames, lookup: Lookup & { kind: 'valid' }): readonly string[] {
  let prepared = lookup.live.memo.get(names.memoKey) as string[] | undefined;
  if (!prepared) {
    prepared = allowedAnswer(names, lookup.live.identity);
    lookup.live.memo.set(names.memoKey, prepared);
  }
  return prepared;
}

/**
 * A refusal a person or an API client may see (Traefik and Caddy pass the body on): JSON for
 * `Accept: application/json`, otherwise the short HTML error page (SPEC §5); no body when the
 * request, or the request asked about, is a HEAD.
 */
function sendCheckError(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: Target | null,
  status: 400 | 403 | 500 | 503,
  code: string,
  message: string,
  headers: string[] = [],
): void {
  if (req.method === 'HEAD' || target?.method === 'HEAD') {
    headers.push('Cache-Control', 'no-store');
    sendEmpty(res, status, headers);
  } else sendProblem(ctx, req, res, status, code, message, headers);
}

function answer(
  ctx: AppContext,
  dialect: Dialect,
  names: CheckNames,
  req: IncomingMessage,
  res: ServerResponse,
  target: Target,
  lookup: Lookup | null,
  startedAt: number,
): void {
  const identity = lookup?.kind === 'valid' ? lookup.live.identity : null;
  let decision: Decision = decide(ctx.policy, target, identity, ctx.anonymousUser);
  if (
    dialect === 'oauth2' &&
    decision.kind === 'allow' &&
    decision.identity &&
    !decision.identity.anonymous
  ) {
    const constraints = oauth2Constraints(req.url ?? '');
    if (constraints && !passesOauth2(constraints, decision.identity)) {
      decision = {
        kind: 'deny',
        identity: decision.identity,
        rule: -1,
        reason: 'oauth2 allowed_* parameters',
      };
    }
  }
  ctx.metrics?.check(dialect, decision.kind, startedAt);
  if (decision.kind === 'allow') {
    // oauth2-proxy answers 202.
    const status = dialect === 'oauth2' ? 202 : 200;
    if (lookup?.kind === 'valid' && decision.identity === lookup.live.identity) {
      sendPreparedEmpty(res, status, allowHeaders(names, lookup));
    } else if (decision.identity) {
      sendPreparedEmpty(res, status, allowedAnswer(names, decision.identity));
    } else sendEmpty(res, status);
    return;
  }
  if (decision.kind === 'deny') {
    ctx.logger.debug(
      { reason: decision.reason, rule: decision.rule, user: decision.identity.id },
      'denied',
    );
    sendCheckError(
      ctx,
      req,
      res,
      target,
      403,
      'forbidden',
      'You are signed in, but your account is not allowed here. Ask an administrator for access, or sign in with another account.',
    );
    return;
  }
  const login = loginUrl(ctx, targetUrl(target));
  const nginxWording = dialect === 'nginx' || (dialect === 'verify' && readsLikeNginx(req.headers));
  if (nginxWording || dialect === 'oauth2') {
    sendEmpty(res, 401, ['Location', login, 'Cache-Control', 'no-store']);
    return;
  }
  sendLoginAnswer(req, res, target, login);
}

/**
 * "Needs login" in Traefik's wording, also used by the reverse proxy: a browser navigation is
 * redirected to the login page, anything else gets 401 JSON naming it (SPEC §3).
 */
export function sendLoginAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  target: Target,
  login: string,
): void {
  if (isNavigation(req.headers)) {
    const status = target.method === 'GET' || target.method === 'HEAD' ? 302 : 303;
    sendEmpty(res, status, ['Location', login, 'Cache-Control', 'no-store']);
    return;
  }
  if (target.method === 'HEAD' || req.method === 'HEAD') {
    // A HEAD navigation has no body to show; say 401 with the login URL and nothing else.
    sendEmpty(res, 401, ['Location', login, 'Cache-Control', 'no-store']);
    return;
  }
  sendBody(
    req,
    res,
    401,
    'application/json; charset=utf-8',
    JSON.stringify({ error: 'unauthenticated', login_url: login }),
    ['Cache-Control', 'no-store'],
  );
}

/**
 * A session lookup that failed, as the answer both the checks and the reverse proxy give: 503
 * while the store is away (it comes back by itself; `failureHeaders` adds Retry-After), a logged
 * 500 for any other fault. Never a 2xx: nginx and Traefik read any 2xx as "let in".
 */
export function sessionLookupFailure(
  ctx: AppContext,
  error: unknown,
  during: string,
): PortcullisError {
  if (error instanceof StoreUnavailableError) {
    ctx.logger.warn({ err: error.message }, 'session store unreachable');
    return new PortcullisError('store_unavailable', error.message);
  }
  ctx.logger.error({ err: error }, `session lookup failed during ${during}`);
  return new PortcullisError(
    'internal',
    (error as Error | undefined)?.message,
    'Something went wrong while checking your session. Try again; if it persists, tell the administrator.',
  );
}

/** Extra headers for a `sessionLookupFailure` answer. */
export function failureHeaders(failure: PortcullisError): string[] {
  return failure.code === 'store_unavailable' ? ['Retry-After', '1'] : [];
}

/**
 * The hot path. A fresh cached session is answered synchronously; otherwise the cookie is
 * verified and its session read from the store. No path through here answers 2xx on error:
 * nginx and Traefik read any 2xx as "let in".
 */
export function handleCheck(
  ctx: AppContext,
  dialect: Dialect,
  names: CheckNames,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  // One clock read per check, and none at all without metrics.
  const startedAt = ctx.metrics ? performance.now() : 0;
  const parsed = isTrusted(ctx, req.socket.remoteAddress) ? readTarget(dialect, req) : null;
  if (!parsed || !parsed.ok) {
    ctx.logger.debug(
      { reason: parsed ? parsed.reason : 'no trusted forwarded headers' },
      'unknown target',
    );
    ctx.metrics?.check(dialect, 'bad_request', startedAt);
    sendCheckError(
      ctx,
      req,
      res,
      null,
      400,
      'bad_request',
      'The proxy in front did not say which URL was asked for, or the URL is malformed (or the proxy is not in server.trusted_proxies).',
    );
    return;
  }
  const target = parsed.target;
  const cookie = readCookie(req.headers.cookie, ctx.config.raw.session.cookie_name);
  if (cookie === undefined || cookie === '') {
    answer(ctx, dialect, names, req, res, target, null, startedAt);
    return;
  }
  const cached = ctx.sessions.peek(cookie);
  if (cached) {
    answer(ctx, dialect, names, req, res, target, cached, startedAt);
    return;
  }
  ctx.sessions.resolve(cookie).then(
    (lookup) => answer(ctx, dialect, names, req, res, target, lookup, startedAt),
    (error: unknown) => {
      const failure = sessionLookupFailure(ctx, error, 'auth check');
      ctx.metrics?.check(
        dialect,
        failure.code === 'store_unavailable' ? 'unavailable' : 'error',
        startedAt,
      );
      if (res.headersSent) return;
      sendCheckError(
        ctx,
        req,
        res,
        target,
        failure.status as 500 | 503,
        failure.code,
        failure.publicMessage,
        failureHeaders(failure),
      );
    },
  );
}
