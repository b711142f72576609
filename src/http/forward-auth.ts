import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { IdentityConstraint } from '../core/decide.js';
import type { HeaderNames } from '../core/identity-headers.js';
import { type Target, targetUrl } from '../core/target.js';
import type { Metrics } from '../metrics.js';
import type { CheckNames, Dialect } from './check/dialects/shared.js';
import {
  allowedAnswer,
  checkNames,
  DIALECTS,
  type DialectName,
  type Family,
} from './check/endpoints.js';
import {
  type CheckCaller,
  type CheckPipeline,
  failureHeaders,
  type HeaderFamily,
  loginUrl,
  tokenRefused,
  type Verdict,
} from './check/pipeline.js';
import type { Handler } from './handler.js';
import { sendProblem } from './pages.js';
import type { PageChrome } from './problem.js';
import type { TrustedProxies } from './request.js';
import { sendEmpty, sendPreparedEmpty } from './respond.js';
import type { ForbiddenPages } from './routes/forbidden.js';
import type { SessionCookie } from './session-cookie.js';

export type { CheckNames, Dialect } from './check/dialects/shared.js';
export type { Family } from './check/endpoints.js';

/** What the forward-auth endpoints use. */
export interface CheckEndpointDeps {
  pipeline: CheckPipeline;
  cookie: SessionCookie;
  /** Only a trusted proxy's forwarded headers name the request asked about. */
  proxies: TrustedProxies;
  /** The configured identity header names (`headers.*`). */
  headerNames: HeaderNames;
  /** Prometheus counters; null when `metrics.listen` is unset. */
  metrics: Pick<Metrics, 'check'> | null;
  logger: Logger;
  chrome: PageChrome;
  /** Public base of portcullis' pages: where "log in" points. */
  baseUrl: string;
  /** The 403 page of a signed-in person the rules refuse (Traefik and Caddy show its body). */
  forbidden: Pick<ForbiddenPages, 'send'>;
}

const NO_STRIP: readonly string[] = [];

const UNSENDABLE =
  'The request carries an Authorization header that cannot be passed on to the app unchanged.';

/**
 * One forward-auth endpoint: a dialect (which headers name the request, how "log in" is said)
 * with a header family, answering through the check pipeline. `startedAt` rides along as the
 * per-request state: one clock read per check, and none at all without metrics.
 */
class CheckEndpoint implements CheckCaller<ServerResponse, number> {
  readonly family: HeaderFamily;
  readonly during = 'auth check';

  constructor(
    private readonly deps: CheckEndpointDeps,
    private readonly dialect: Dialect,
    names: CheckNames,
  ) {
    this.family = allowedAnswer(names);
  }

  constraint(req: IncomingMessage): IdentityConstraint | null {
    return this.dialect.constraint(req);
  }

  /**
   * The hot path. A fresh cached session is answered synchronously; otherwise the cookie is
   * verified and its session read from the store.
   */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const deps = this.deps;
    const startedAt = deps.metrics ? performance.now() : 0;
    const parsed = deps.proxies.isTrusted(req.socket.remoteAddress)
      ? this.dialect.readTarget(req)
      : null;
    if (!parsed?.ok) {
      deps.logger.debug(
        { reason: parsed ? parsed.reason : 'no trusted forwarded headers' },
        'unknown target',
      );
      deps.metrics?.check(this.dialect.name, 'bad_request', startedAt);
      sendCheckError(
        deps.chrome,
        req,
        res,
        null,
        400,
        'bad_request',
        'The proxy in front did not say which URL was asked for, or the URL is malformed (or the proxy is not in server.trusted_proxies).',
      );
      return;
    }
    deps.pipeline.run(req, res, parsed.target, deps.cookie.read(req), this, startedAt);
  }

  answer(req: IncomingMessage, res: ServerResponse, verdict: Verdict, startedAt: number): void {
    const deps = this.deps;
    const { target, answer } = verdict;
    if (answer.kind === 'error') {
      const failure = answer.error;
      deps.metrics?.check(
        this.dialect.name,
        failure.code === 'store_unavailable' ? 'unavailable' : 'error',
        startedAt,
      );
      if (res.headersSent) return;
      sendCheckError(
        deps.chrome,
        req,
        res,
        target,
        failure.status as 500 | 503,
        failure.code,
        failure.publicMessage,
        failureHeaders(failure),
      );
      return;
    }
    if (answer.kind === 'allow') {
      // The app's own Authorization, passed on; a portcullis token never is (issue 13).
      const passed = this.dialect.passOn(req, verdict.credential?.strip ?? NO_STRIP);
      if (passed === null) {
        deps.metrics?.check(this.dialect.name, 'bad_request', startedAt);
        sendCheckError(deps.chrome, req, res, target, 400, 'bad_request', UNSENDABLE);
        return;
      }
      deps.metrics?.check(this.dialect.name, answer.kind, startedAt);
      const prepared = verdict.prepared;
      if (passed.length !== 0) {
        const headers = [...passed];
        if (prepared !== null) for (const value of prepared) headers.push(value);
        else headers.push('Content-Length', '0');
        sendPreparedEmpty(res, this.dialect.allowStatus, headers);
      } else if (prepared !== null) sendPreparedEmpty(res, this.dialect.allowStatus, prepared);
      else sendEmpty(res, this.dialect.allowStatus);
      return;
    }
    deps.metrics?.check(this.dialect.name, answer.kind, startedAt);
    if (answer.kind === 'deny') {
      deps.logger.debug(
        { reason: answer.reason, rule: answer.rule, user: answer.identity.id },
        'denied',
      );
      deps.forbidden.send(req, res, target, answer, verdict.credential === null);
      return;
    }
    const login = loginUrl(deps.baseUrl, targetUrl(target), answer);
    const challenge = deps.pipeline.challenge(req, verdict);
    // A request that carried a token is a client that cannot follow a redirect to a login page.
    if (tokenRefused(verdict)) this.dialect.sendTokenRefusal(req, res, target, login, challenge);
    else this.dialect.sendLogin(req, res, target, login, challenge);
  }
}

/**
 * A refusal a person or an API client may see (Traefik and Caddy pass the body on): JSON for
 * `Accept: application/json`, otherwise the short HTML error page (SPEC §5); no body when the
 * request, or the request asked about, is a HEAD.
 */
function sendCheckError(
  chrome: PageChrome,
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
  } else sendProblem(chrome, req, res, status, code, message, headers);
}

/** The route handler for one dialect with one header family. */
export type CheckHandlers = (dialect: DialectName, family: Family) => Handler;

/** The check endpoints of one server, sharing one pipeline. */
export function createCheckHandlers(deps: CheckEndpointDeps): CheckHandlers {
  return (dialect, family) => {
    const endpoint = new CheckEndpoint(
      deps,
      DIALECTS[dialect],
      checkNames(deps.headerNames, family),
    );
    return (req, res) => endpoint.handle(req, res);
  };
}
