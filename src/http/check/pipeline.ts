import type { Logger } from 'pino';
import { extractAppToken } from '../../core/app-token-extract.js';
import {
  type AllowedOrigins,
  allowedOrigin,
  BEARER_CHALLENGE,
  corsRefusalHeaders,
  isAllowedPreflight,
} from '../../core/cors.js';
import { type AccessPolicy, type Decision, decide } from '../../core/decide.js';
import type { Identity } from '../../core/identity.js';
import type { Target } from '../../core/target.js';
import type { Lookup, SessionService } from '../../services/sessions.js';
import { credentialHeaders } from './credentials.js';
import { lookupFailure } from './lookup-failure.js';
import { type TokenCheck, TokenStep } from './token-step.js';
import {
  type Answer,
  type CheckCaller,
  type CheckRequest,
  type Preflight,
  prepareHeaders,
  tokenRefused,
  type Verdict,
} from './verdict.js';

export { loginUrl } from './login-url.js';
// The pipeline's vocabulary lives in verdict.ts and its steps in their own files; callers keep
// importing it from here.
export { failureHeaders } from './lookup-failure.js';
export type { TokenCheck } from './token-step.js';
export {
  type Answer,
  type CheckCaller,
  type CheckRequest,
  type Credential,
  type HeaderFamily,
  type Preflight,
  tokenRefused,
  type Verdict,
} from './verdict.js';

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
  private readonly tokenStep: TokenStep | null;
  private readonly cors: AllowedOrigins;

  constructor(deps: CheckDeps) {
    this.policy = deps.policy;
    this.anonymousUser = deps.anonymousUser;
    this.sessions = deps.sessions;
    this.logger = deps.logger;
    const tokens = deps.tokens ?? null;
    this.tokenStep =
      tokens === null
        ? null
        : new TokenStep({
            policy: deps.policy,
            anonymousUser: deps.anonymousUser,
            logger: deps.logger,
            tokens,
          });
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
    const tokenStep = this.tokenStep;
    if (tokenStep !== null) {
      const headers = req.headers;
      const header = tokenStep.tokens.header;
      if (
        headers.authorization !== undefined ||
        headers['proxy-authorization'] !== undefined ||
        (header !== null && headers[header] !== undefined)
      ) {
        const extracted = extractAppToken(credentialHeaders(req), header);
        if (extracted !== null) {
          tokenStep.run(req, out, target, extracted, caller, extra);
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
        const failure = lookupFailure(this.logger, error, caller.during);
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
    const tokenStep = this.tokenStep;
    if (tokenStep === null) return PREFLIGHT;
    const extracted = extractAppToken(credentialHeaders(req), tokenStep.tokens.header);
    return extracted === null ? PREFLIGHT : { kind: 'preflight', strip: extracted.strip };
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
    return this.tokenStep === null ? false : this.tokenStep.recheck(target, token);
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
          ? prepareHeaders(caller.family, decision.identity, lookup.live.identity, lookup.live.memo)
          : caller.family.build(decision.identity);
    }
    caller.answer(
      req,
      out,
      { target, answer: decision, prepared, lookup, credential: null },
      extra,
    );
  }
}
