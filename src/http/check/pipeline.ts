import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { type ExtractedAppToken, extractAppToken, type HeaderBag } from '../../core/app-token.js';
import {
  type AllowedOrigins,
  allowedOrigin,
  BEARER_CHALLENGE,
  corsRefusalHeaders,
  isAllowedPreflight,
} from '../../core/cors.js';
import {
  type AccessPolicy,
  type Decision,
  decide,
  type IdentityConstraint,
  STEP_UP,
} from '../../core/decide.js';
import { PortcullisError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import type { Target } from '../../core/target.js';
import { StoreUnavailableError } from '../../ports/store.js';
import type { AppTokenService, AppTokenVerdict } from '../../services/app-tokens.js';
import type { Lookup, SessionService } from '../../services/sessions.js';

/**
 * The part of a request the check reads: the headers (node's merged view and the raw lines, to
 * see a repeated Host) and the request-target (oauth2-proxy's `allowed_*`). An IncomingMessage
 * is one; a test builds one from plain values and runs a check without a socket.
 */
export interface CheckRequest {
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly url?: string | undefined;
}

/**
 * What a check concludes: the decision (allow, login, deny, each with its reason), or the error
 * that stopped it (the session store failed). An `allow` for a signed-in identity comes with its
 * prepared header list (see `HeaderFamily`).
 */
export type Answer = Decision | { kind: 'error'; error: PortcullisError };

/**
 * The identity headers a caller answers "allow" with, built once per live session and kept in
 * its memo under `memoKey`: the common answer allocates no header array. The list is shared, so
 * callers only read it.
 */
export interface HeaderFamily {
  readonly memoKey: string;
  build(identity: Identity): string[];
}

/**
 * A credential other than the session cookie that the check read: an app token (`token`, or
 * `invalid` when something meant for portcullis was unusable), or nothing at all because the
 * request is a CORS preflight from an allowed origin. `strip` names the headers (lower-case) that
 * held a portcullis token: the reverse proxy removes them before the app sees the request.
 */
export type Credential = ExtractedAppToken | Preflight;

export interface Preflight {
  readonly kind: 'preflight';
  readonly strip: readonly string[];
}

/**
 * What the pipeline hands its caller: the target asked about, the answer, the prepared identity
 * header list of an `allow` with an identity (shared: callers only read it), the session lookup
 * it rests on (null without a cookie, or when the lookup failed), and the credential read
 * instead of the cookie (null when none was). A `login` answer with a token credential means
 * the token was refused: always a 401, never a redirect to the login page.
 */
export interface Verdict {
  readonly target: Target;
  readonly answer: Answer;
  readonly prepared: readonly string[] | null;
  readonly lookup: Lookup | null;
  readonly credential: Credential | null;
}

/** True when the request carried an app token (well-formed or not) and the check refused it. */
export function tokenRefused(verdict: Verdict): boolean {
  const credential = verdict.credential;
  return credential !== null && credential.kind !== 'preflight' && verdict.answer.kind === 'login';
}

/**
 * One user of the pipeline (a forward-auth endpoint, the reverse proxy's request or upgrade
 * path): it owns the output `O` (a response, a socket) and any per-request state `X`, and puts
 * the answer into its own wording. `R` is the request it is handed back.
 */
export interface CheckCaller<O, X, R extends CheckRequest = IncomingMessage> {
  readonly family: HeaderFamily;
  /** Names the step in the log line of a failed session lookup. */
  readonly during: string;
  /** A constraint the request itself adds to the policy (oauth2-proxy's `allowed_*`), or null. */
  constraint(req: R): IdentityConstraint | null;
  /**
   * Called exactly once per `run`: synchronously when there is no session cookie or its session
   * (or app token) is cached, else once the store has answered.
   */
  answer(req: R, out: O, verdict: Verdict, extra: X): void;
}

/** App tokens as the check reads them (`tokens.enabled`). */
export interface TokenCheck {
  service: Pick<AppTokenService, 'peek' | 'verify' | 'holder'>;
  /** `tokens.header`, lower-cased; null when none is configured. */
  header: string | null;
}

export interface CheckDeps {
  policy: AccessPolicy;
  anonymousUser: Identity;
  sessions: Pick<SessionService, 'peek' | 'resolve'>;
  logger: Logger;
  /** Null or absent: `tokens.enabled` is false, and any Authorization belongs to the app. */
  tokens?: TokenCheck | null;
  /** `cors.allowed_origins`; absent: none. */
  cors?: AllowedOrigins;
}

/** `WWW-Authenticate` of a 401 to a request whose token was refused (RFC 6750 §3.1). */
export const INVALID_TOKEN_CHALLENGE = `${BEARER_CHALLENGE}, error="invalid_token"`;

const NO_STRIP: readonly string[] = [];
/** The credential of an allowed preflight that carries no portcullis token (the usual one). */
const PREFLIGHT: Preflight = { kind: 'preflight', strip: NO_STRIP };
/** The answer to an allowed preflight: let through as nobody; the app answers it. */
const PREFLIGHT_ALLOWED: Decision = {
  kind: 'allow',
  identity: null,
  rule: -1,
  reason: 'CORS preflight from an allowed origin',
};

/**
 * The request headers a token is looked for in. Node keeps only the first of repeated
 * `Authorization` / `Proxy-Authorization` lines in `req.headers`; a token in a later one would
 * then go unseen (and on to the app), so repeats are collected from the raw lines and the
 * extractor refuses them as more than one credential.
 */
function credentialHeaders(req: CheckRequest): HeaderBag {
  const raw = req.rawHeaders;
  let authorization = 0;
  let proxy = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === 'authorization') authorization++;
    else if (name.length === 19 && name.toLowerCase() === 'proxy-authorization') proxy++;
  }
  if (authorization < 2 && proxy < 2) return req.headers;
  const bag: Record<string, string | string[] | undefined> = { ...req.headers };
  const all: Record<string, string[]> = { authorization: [], 'proxy-authorization': [] };
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    all[name]?.push(raw[i + 1] as string);
  }
  if (authorization > 1) bag.authorization = all.authorization;
  if (proxy > 1) bag['proxy-authorization'] = all['proxy-authorization'];
  return bag;
}

/**
 * The check every entry point shares: a target (read by the caller's dialect) and the session
 * cookie in; session (a cached one without a promise, else the store), `decide`, and the prepared
 * identity headers out, as one `Answer`. No path gives a 2xx on an error: nginx and Traefik read
 * any 2xx as "let in", so a failure is an answer of its own the caller must refuse with.
 */
export class CheckPipeline {
  private readonly policy: AccessPolicy;
  private readonly anonymousUser: Identity;
  private readonly sessions: Pick<SessionService, 'peek' | 'resolve'>;
  private readonly logger: Logger;
  private readonly tokens: TokenCheck | null;
  private readonly cors: AllowedOrigins;

  constructor(deps: CheckDeps) {
    this.policy = deps.policy;
    this.anonymousUser = deps.anonymousUser;
    this.sessions = deps.sessions;
    this.logger = deps.logger;
    this.tokens = deps.tokens ?? null;
    this.cors = deps.cors ?? new Set();
  }

  /**
   * The credential step, then the decision. In order: a CORS preflight from an allowed origin
   * passes as nobody, reading no credential (browsers never send one with a preflight); an app
   * token, when one is present, decides alone (it wins over a cookie, and an unusable one is a
   * 401, never a fall-back to the cookie); else the session cookie.
   */
  run<O, X, R extends CheckRequest>(
    req: R,
    out: O,
    target: Target,
    cookie: string | undefined,
    caller: CheckCaller<O, X, R>,
    extra: X,
  ): void {
    if (target.method === 'OPTIONS' && this.isPreflight(req)) {
      const credential = this.preflightCredential(req);
      const verdict = {
        target,
        answer: PREFLIGHT_ALLOWED,
        prepared: null,
        lookup: null,
        credential,
      };
      caller.answer(req, out, verdict, extra);
      return;
    }
    const tokens = this.tokens;
    if (tokens !== null) {
      const headers = req.headers;
      if (
        headers.authorization !== undefined ||
        headers['proxy-authorization'] !== undefined ||
        (tokens.header !== null && headers[tokens.header] !== undefined)
      ) {
        const extracted = extractAppToken(credentialHeaders(req), tokens.header);
        if (extracted !== null) {
          this.runToken(req, out, target, extracted, tokens, caller, extra);
          return;
        }
      }
    }
    if (cookie === undefined || cookie === '') {
      this.conclude(req, out, target, null, caller, extra);
      return;
    }
    const cached = this.sessions.peek(cookie);
    if (cached) {
      this.conclude(req, out, target, cached, caller, extra);
      return;
    }
    this.sessions.resolve(cookie).then(
      (lookup) => this.conclude(req, out, target, lookup, caller, extra),
      (error: unknown) => {
        const failure = this.lookupFailure(error, caller.during);
        const answer: Answer = { kind: 'error', error: failure };
        const verdict = { target, answer, prepared: null, lookup: null, credential: null };
        caller.answer(req, out, verdict, extra);
      },
    );
  }

  private isPreflight(req: CheckRequest): boolean {
    const headers = req.headers;
    return isAllowedPreflight(
      'OPTIONS',
      headers.origin,
      headers['access-control-request-method'],
      this.cors,
    );
  }

  /** A preflight reads no credential, but a portcullis token on it must not reach the app either. */
  private preflightCredential(req: CheckRequest): Preflight {
    const tokens = this.tokens;
    if (tokens === null) return PREFLIGHT;
    const extracted = extractAppToken(credentialHeaders(req), tokens.header);
    return extracted === null ? PREFLIGHT : { kind: 'preflight', strip: extracted.strip };
  }

  private runToken<O, X, R extends CheckRequest>(
    req: R,
    out: O,
    target: Target,
    extracted: ExtractedAppToken,
    tokens: TokenCheck,
    caller: CheckCaller<O, X, R>,
    extra: X,
  ): void {
    if (extracted.kind === 'invalid') {
      this.logger.debug({ reason: extracted.reason }, 'unusable app token');
      this.refuseToken(
        req,
        out,
        target,
        extracted,
        `app token: ${extracted.reason}`,
        caller,
        extra,
      );
      return;
    }
    const cached = tokens.service.peek(extracted.token, target);
    if (cached !== undefined) {
      this.concludeToken(req, out, target, extracted, cached, caller, extra);
      return;
    }
    tokens.service.verify(extracted.token, target).then(
      (verdict) => this.concludeToken(req, out, target, extracted, verdict, caller, extra),
      (error: unknown) => {
        const failure = this.lookupFailure(error, caller.during);
        const answer: Answer = { kind: 'error', error: failure };
        const verdict = { target, answer, prepared: null, lookup: null, credential: extracted };
        caller.answer(req, out, verdict, extra);
      },
    );
  }

  private concludeToken<O, X, R extends CheckRequest>(
    req: R,
    out: O,
    target: Target,
    extracted: ExtractedAppToken & { kind: 'token' },
    verdict: AppTokenVerdict,
    caller: CheckCaller<O, X, R>,
    extra: X,
  ): void {
    if (!verdict.ok) {
      // Outside its scope the user is known and the token good, only not for this URL: 403.
      const holder =
        verdict.reason === 'out_of_scope' ? this.tokens?.service.holder(extracted.token) : null;
      if (holder) {
        const answer: Decision = {
          kind: 'deny',
          identity: holder,
          rule: -1,
          reason: 'app token out of its scope',
        };
        caller.answer(
          req,
          out,
          { target, answer, prepared: null, lookup: null, credential: extracted },
          extra,
        );
        return;
      }
      this.refuseToken(req, out, target, extracted, `app token ${verdict.reason}`, caller, extra);
      return;
    }
    const decision = decide(
      this.policy,
      target,
      verdict.identity,
      this.anonymousUser,
      caller.constraint(req),
    );
    let prepared: readonly string[] | null = null;
    if (decision.kind === 'allow' && decision.identity !== null) {
      prepared = this.prepare(caller.family, decision.identity, verdict.identity, verdict.memo);
    }
    const answer = { target, answer: decision, prepared, lookup: null, credential: extracted };
    caller.answer(req, out, answer, extra);
  }

  private refuseToken<O, X, R extends CheckRequest>(
    req: R,
    out: O,
    target: Target,
    credential: ExtractedAppToken,
    reason: string,
    caller: CheckCaller<O, X, R>,
    extra: X,
  ): void {
    const answer: Decision = { kind: 'login', rule: -1, reason };
    caller.answer(req, out, { target, answer, prepared: null, lookup: null, credential }, extra);
  }

  /** The prepared header list for `identity`, kept in the memo of the credential it came from. */
  private prepare(
    family: HeaderFamily,
    identity: Identity,
    owner: Identity,
    memo: Map<string, unknown>,
  ): readonly string[] {
    if (identity !== owner) return family.build(identity);
    let cached = memo.get(family.memoKey) as string[] | undefined;
    if (cached === undefined) {
      cached = family.build(identity);
      memo.set(family.memoKey, cached);
    }
    return cached;
  }

  /**
   * The headers of a 401 from a check or the proxy: `WWW-Authenticate` (RFC 9110 §15.5.2: a 401
   * names a challenge; with `error="invalid_token"` when a token was presented and refused, RFC
   * 6750 §3.1), and the CORS headers when the request's Origin is allowed, so a cross-origin
   * client can read the answer. Other origins get nothing extra.
   */
  challenge(req: CheckRequest, verdict: Verdict | null): string[] {
    const refused = verdict !== null && tokenRefused(verdict);
    const headers = ['WWW-Authenticate', refused ? INVALID_TOKEN_CHALLENGE : BEARER_CHALLENGE];
    if (this.cors.size === 0) return headers;
    const cors = corsRefusalHeaders(allowedOrigin(req.headers.origin, this.cors));
    for (const value of cors) headers.push(value);
    return headers;
  }

  /**
   * Re-decides an open WebSocket opened with an app token: false once the token is refused or
   * the rules no longer allow its user here; true while the store is unreachable (the socket
   * stays, as for sessions).
   */
  async recheckToken(target: Target, token: string): Promise<boolean> {
    const tokens = this.tokens;
    if (tokens === null) return false;
    let verdict: AppTokenVerdict;
    try {
      verdict = await tokens.service.verify(token, target);
    } catch {
      return true;
    }
    if (!verdict.ok) return false;
    return decide(this.policy, target, verdict.identity, this.anonymousUser).kind === 'allow';
  }

  /** The decision alone, for re-deciding an open WebSocket with a fresh lookup. */
  decision(target: Target, lookup: Lookup | null): Decision {
    const identity = lookup?.kind === 'valid' ? lookup.live.identity : null;
    return decide(this.policy, target, identity, this.anonymousUser);
  }

  private conclude<O, X, R extends CheckRequest>(
    req: R,
    out: O,
    target: Target,
    lookup: Lookup | null,
    caller: CheckCaller<O, X, R>,
    extra: X,
  ): void {
    const identity = lookup?.kind === 'valid' ? lookup.live.identity : null;
    const decision = decide(
      this.policy,
      target,
      identity,
      this.anonymousUser,
      caller.constraint(req),
    );
    let prepared: readonly string[] | null = null;
    if (decision.kind === 'allow' && decision.identity !== null) {
      prepared =
        lookup?.kind === 'valid'
          ? this.prepare(caller.family, decision.identity, lookup.live.identity, lookup.live.memo)
          : caller.family.build(decision.identity);
    }
    caller.answer(
      req,
      out,
      { target, answer: decision, prepared, lookup, credential: null },
      extra,
    );
  }

  /**
   * A session lookup that failed: 503 while the store is away (it comes back by itself;
   * `failureHeaders` adds Retry-After), a logged 500 for any other fault.
   */
  private lookupFailure(error: unknown, during: string): PortcullisError {
    if (error instanceof StoreUnavailableError) {
      this.logger.warn({ err: error.message }, 'session store unreachable');
      return new PortcullisError('store_unavailable', error.message);
    }
    this.logger.error({ err: error }, `session lookup failed during ${during}`);
    return new PortcullisError(
      'internal',
      (error as Error | undefined)?.message,
      'Something went wrong while checking your session. Try again; if it persists, tell the administrator.',
    );
  }
}

/** Extra headers for an error answer. */
export function failureHeaders(failure: PortcullisError): string[] {
  return failure.code === 'store_unavailable' ? ['Retry-After', '1'] : [];
}

/**
 * Where "log in" sends a person, back to `rd` afterwards. When `answer` is a step-up (a session
 * that lacks a factor a rule requires) the URL says which one (`step_up=passkey|mfa`), so the
 * login page asks for that factor instead of a new sign-in.
 */
export function loginUrl(baseUrl: string, rd: string | null, answer?: Answer): string {
  const stepUp =
    answer?.kind === 'login' && answer.reason === STEP_UP && answer.require !== undefined
      ? `step_up=${answer.require}`
      : null;
  const query = [rd === null ? null : `rd=${encodeURIComponent(rd)}`, stepUp].filter(
    (part) => part !== null,
  );
  return query.length === 0 ? `${baseUrl}/login` : `${baseUrl}/login?${query.join('&')}`;
}
