import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { ExtractedAppToken } from '../../core/app-token-extract.js';
import type { Decision, IdentityConstraint } from '../../core/decide.js';
import type { PortcullisError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import type { Target } from '../../core/target.js';
import type { Lookup } from '../../services/sessions.js';

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

/** The prepared header list for `identity`, kept in the memo of the credential it came from. */
export function prepareHeaders(
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
