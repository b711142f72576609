import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { readCookie } from '../core/cookies.js';
import { type Decision, decide } from '../core/decide.js';
import { PortcullisError } from '../core/errors.js';
import { compileEmailGlob } from '../core/glob.js';
import type { Identity } from '../core/identity.js';
import { type HeaderNames, identityHeaders } from '../core/identity-headers.js';
import { type Target, type TargetResult, targetUrl } from '../core/target.js';
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
 * The method a proxy forwarded, upper-cased; GET when it sent none. Proxies send it upper-case
 * already, and a comparison is cheaper than `toUpperCase`, which V8 runs in its runtime.
 */
function methodOf(value: string | undefined): string {
  if (value === undefined || value === 'GET') return 'GET';
  return value.toUpperCase();
}

function fromNginxHeaders(headers: IncomingHttpHeaders): TargetResult | null {
  const method = methodOf(first(headers['x-original-method']));
  const original = first(headers['x-original-url']);
  if (original !== undefined) return targets.absolute(original, method);
  // ingress-nginx style: X-Original-URI with the host in X-Forwarded-Host or Host.
  const uri = first(headers['x-original-uri']);
  const host = first(headers['x-forwarded-host']) ?? headers.host;
  if (uri === undefined || host === undefined) return null;
  const scheme = first(headers['x-forwarded-proto']) ?? first(headers['x-scheme']) ?? 'http';
  return targets.build(scheme, host, uri, method);
}

function fromForwardedHeaders(headers: IncomingHttpHeaders): TargetResult | null {
  const host = first(headers['x-forwarded-host']);
  const uri = first(headers['x-forwarded-uri']);
  if (host === undefined || uri === undefined) return null;
  const scheme = first(headers['x-forwarded-proto']) ?? 'http';
  const method = methodOf(first(headers['x-forwarded-method']));
  return targets.build(scheme, host, uri, method);
}

function fromOauth2Headers(headers: IncomingHttpHeaders): TargetResult | null {
  if (headers['x-original-url'] !== undefined) return fromNginxHeaders(headers);
  const uri = first(headers['x-forwarded-uri']) ?? first(headers['x-original-uri']);
  const host = first(headers['x-forwarded-host']) ?? headers.host;
  if (uri === undefined || host === undefined) return null;
  const scheme = first(headers['x-forwarded-proto']) ?? 'http';
  const method = methodOf(
    first(headers['x-forwarded-method']) ?? first(headers['x-original-method']),
  );
  return targets.build(scheme, host, uri, method);
}

/** Reads the target a trusted proxy asked about; null when the headers are missing. */
export function readTarget(dialect: Dialect, headers: IncomingHttpHeaders): TargetResult | null {
  switch (dialect) {
    case 'nginx':
      return fromNginxHeaders(headers);
    case 'traefik':
      return fromForwardedHeaders(headers);
    case 'oauth2':
      return fromOauth2Headers(headers);
    case 'verify':
      return readsLikeNginx(headers) ? fromNginxHeaders(headers) : fromForwardedHeaders(headers);
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
  ctx.metrics?.check(dialect, decision.kind);
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
  const parsed = isTrusted(ctx, req.socket.remoteAddress) ? readTarget(dialect, req.headers) : null;
  if (!parsed || !parsed.ok) {
    ctx.logger.debug(
      { reason: parsed ? parsed.reason : 'no trusted forwarded headers' },
      'unknown target',
    );
    ctx.metrics?.check(dialect, 'bad_request');
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
    answer(ctx, dialect, names, req, res, target, null);
    return;
  }
  const cached = ctx.sessions.peek(cookie);
  if (cached) {
    answer(ctx, dialect, names, req, res, target, cached);
    return;
  }
  ctx.sessions.resolve(cookie).then(
    (lookup) => answer(ctx, dialect, names, req, res, target, lookup),
    (error: unknown) => {
      const failure = sessionLookupFailure(ctx, error, 'auth check');
      ctx.metrics?.check(dialect, failure.code === 'store_unavailable' ? 'unavailable' : 'error');
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
