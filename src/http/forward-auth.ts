import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IdentityConstraint } from '../core/decide.js';
import { type Target, targetUrl } from '../core/target.js';
import type { Lookup } from '../services/sessions.js';
import type { CheckNames, Dialect } from './check/dialects/shared.js';
import {
  allowedAnswer,
  checkNames,
  DIALECTS,
  type DialectName,
  type Family,
} from './check/endpoints.js';
import {
  type Answer,
  type CheckCaller,
  CheckPipeline,
  failureHeaders,
  type HeaderFamily,
  loginUrl as loginAt,
} from './check/pipeline.js';
import type { AppContext } from './context.js';
import { sendProblem } from './pages.js';
import { isTrusted } from './request.js';
import { sendEmpty, sendPreparedEmpty } from './respond.js';
import { type SessionCookie, sessionCookie } from './session-cookie.js';

export type { CheckNames, Dialect } from './check/dialects/shared.js';
export type { Family } from './check/endpoints.js';

export function loginUrl(ctx: AppContext, rd: string | null): string {
  return loginAt(ctx.baseUrl, rd);
}

const DENIED =
  'You are signed in, but your account is not allowed here. Ask an administrator for access, or sign in with another account.';

/**
 * One forward-auth endpoint: a dialect (which headers name the request, how "log in" is said)
 * with a header family, answering through the check pipeline. `startedAt` rides along as the
 * per-request state: one clock read per check, and none at all without metrics.
 */
class CheckEndpoint implements CheckCaller<ServerResponse, number> {
  readonly family: HeaderFamily;
  readonly during = 'auth check';
  private readonly cookie: SessionCookie;

  constructor(
    private readonly ctx: AppContext,
    private readonly pipeline: CheckPipeline,
    private readonly dialect: Dialect,
    names: CheckNames,
  ) {
    this.family = allowedAnswer(names);
    this.cookie = sessionCookie(ctx.config);
  }

  constraint(req: IncomingMessage): IdentityConstraint | null {
    return this.dialect.constraint(req);
  }

  /**
   * The hot path. A fresh cached session is answered synchronously; otherwise the cookie is
   * verified and its session read from the store.
   */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const ctx = this.ctx;
    const startedAt = ctx.metrics ? performance.now() : 0;
    const parsed = isTrusted(ctx, req.socket.remoteAddress) ? this.dialect.readTarget(req) : null;
    if (!parsed?.ok) {
      ctx.logger.debug(
        { reason: parsed ? parsed.reason : 'no trusted forwarded headers' },
        'unknown target',
      );
      ctx.metrics?.check(this.dialect.name, 'bad_request', startedAt);
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
    this.pipeline.run(req, res, parsed.target, this.cookie.read(req), this, startedAt);
  }

  answer(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    answer: Answer,
    prepared: readonly string[] | null,
    _lookup: Lookup | null,
    startedAt: number,
  ): void {
    const ctx = this.ctx;
    if (answer.kind === 'error') {
      const failure = answer.error;
      ctx.metrics?.check(
        this.dialect.name,
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
      return;
    }
    ctx.metrics?.check(this.dialect.name, answer.kind, startedAt);
    if (answer.kind === 'allow') {
      if (prepared !== null) sendPreparedEmpty(res, this.dialect.allowStatus, prepared);
      else sendEmpty(res, this.dialect.allowStatus);
      return;
    }
    if (answer.kind === 'deny') {
      ctx.logger.debug(
        { reason: answer.reason, rule: answer.rule, user: answer.identity.id },
        'denied',
      );
      sendCheckError(ctx, req, res, target, 403, 'forbidden', DENIED);
      return;
    }
    this.dialect.sendLogin(req, res, target, loginUrl(ctx, targetUrl(target)));
  }
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

/**
 * The check endpoints of one server, sharing one pipeline: `check(dialect, family)` is the route
 * handler for that combination (its first argument, the context, is the one built in).
 */
export function createCheckHandlers(
  ctx: AppContext,
): (
  dialect: DialectName,
  family: Family,
) => (_ctx: unknown, req: IncomingMessage, res: ServerResponse) => void {
  const pipeline = new CheckPipeline(ctx);
  return (dialect, family) => {
    const endpoint = new CheckEndpoint(
      ctx,
      pipeline,
      DIALECTS[dialect],
      checkNames(ctx.headerNames, family),
    );
    return (_ctx, req, res) => endpoint.handle(req, res);
  };
}
