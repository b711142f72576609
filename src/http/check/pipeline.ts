import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import {
  type AccessPolicy,
  type Decision,
  decide,
  type IdentityConstraint,
} from '../../core/decide.js';
import { PortcullisError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import type { Target } from '../../core/target.js';
import { StoreUnavailableError } from '../../ports/store.js';
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
 * What the pipeline hands its caller: the target asked about, the answer, the prepared identity
 * header list of an `allow` with an identity (shared: callers only read it), and the session
 * lookup it rests on (null without a cookie, or when the lookup failed).
 */
export interface Verdict {
  readonly target: Target;
  readonly answer: Answer;
  readonly prepared: readonly string[] | null;
  readonly lookup: Lookup | null;
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
   * is cached, else once the store has answered.
   */
  answer(req: R, out: O, verdict: Verdict, extra: X): void;
}

export interface CheckDeps {
  policy: AccessPolicy;
  anonymousUser: Identity;
  sessions: Pick<SessionService, 'peek' | 'resolve'>;
  logger: Logger;
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

  constructor(deps: CheckDeps) {
    this.policy = deps.policy;
    this.anonymousUser = deps.anonymousUser;
    this.sessions = deps.sessions;
    this.logger = deps.logger;
  }

  run<O, X, R extends CheckRequest>(
    req: R,
    out: O,
    target: Target,
    cookie: string | undefined,
    caller: CheckCaller<O, X, R>,
    extra: X,
  ): void {
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
        caller.answer(req, out, { target, answer, prepared: null, lookup: null }, extra);
      },
    );
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
      const family = caller.family;
      if (lookup?.kind === 'valid' && decision.identity === lookup.live.identity) {
        const memo = lookup.live.memo;
        let cached = memo.get(family.memoKey) as string[] | undefined;
        if (cached === undefined) {
          cached = family.build(decision.identity);
          memo.set(family.memoKey, cached);
        }
        prepared = cached;
      } else prepared = family.build(decision.identity);
    }
    caller.answer(req, out, { target, answer: decision, prepared, lookup }, extra);
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

/** Where "log in" sends a person, back to `rd` afterwards. */
export function loginUrl(baseUrl: string, rd: string | null): string {
  return rd === null ? `${baseUrl}/login` : `${baseUrl}/login?rd=${encodeURIComponent(rd)}`;
}
