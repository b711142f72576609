import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type Target, targetUrl } from '../core/target.js';
import { sendLoginAnswer, sendTokenRefusal } from '../http/check/dialects/traefik.js';
import {
  type Answer,
  failureHeaders,
  loginUrl,
  tokenRefused,
  type Verdict,
} from '../http/check/pipeline.js';
import { sendProblem } from '../http/pages.js';
import type { PageChrome } from '../http/problem.js';
import type { ForbiddenPages } from '../http/routes/forbidden.js';
import { failureMessage, type UpstreamFailure } from './upstream-failure.js';

/** Every answer of the pipeline but "allow". */
export type Refusal = Exclude<Answer, { kind: 'allow' }>;

export interface RequestRefusalDeps {
  chrome: PageChrome;
  logger: Logger;
  /** Public base of portcullis' pages: where "log in" points. */
  baseUrl: string;
  /** The 403 page of a signed-in person the rules refuse. */
  forbidden: Pick<ForbiddenPages, 'send'>;
}

/**
 * How the request path says no: 400 for what admission refused, Traefik's wording for a check
 * that did not allow, 502/504 for an upstream that failed before the client got anything.
 */
export class RequestRefusals {
  /** Bound once: the engine calls it bare, and the hot path must not build a closure. */
  readonly upstreamFailed: (failure: UpstreamFailure, res: ServerResponse) => void;

  constructor(private readonly deps: RequestRefusalDeps) {
    this.upstreamFailed = (failure, res) => this.sendUpstreamFailure(failure, res);
  }

  badRequest(req: IncomingMessage, res: ServerResponse, message: string): void {
    // The rest of a refused request is not read: the connection cannot be reused.
    res.shouldKeepAlive = false;
    sendProblem(this.deps.chrome, req, res, 400, 'bad_request', message);
  }

  /**
   * `challenge`: the headers of a 401 (`CheckPipeline.challenge`), used when the answer is
   * "log in".
   */
  refuse(
    req: IncomingMessage,
    res: ServerResponse,
    verdict: Verdict,
    answer: Refusal,
    hasBody: boolean,
    challenge: () => string[],
  ): void {
    if (answer.kind === 'error') {
      if (res.headersSent) return;
      if (hasBody) res.shouldKeepAlive = false;
      const failure = answer.error;
      const headers = failureHeaders(failure);
      sendProblem(
        this.deps.chrome,
        req,
        res,
        failure.status,
        failure.code,
        failure.publicMessage,
        headers,
      );
      return;
    }
    // Refused: the body is not read. `Connection: close` says so, and the server closes the
    // socket once the answer is out (a trickled body would otherwise hold it indefinitely).
    if (hasBody) res.shouldKeepAlive = false;
    if (answer.kind === 'deny') {
      this.deps.logger.debug(
        { reason: answer.reason, rule: answer.rule, user: answer.identity.id },
        'proxy: denied',
      );
      this.deps.forbidden.send(req, res, verdict.target, answer, verdict.credential === null);
      return;
    }
    const target = verdict.target;
    const login = loginUrl(this.deps.baseUrl, targetUrl(target), answer);
    // A client that sent a token cannot follow a redirect to a login page: always 401.
    if (tokenRefused(verdict)) sendTokenRefusal(req, res, target, login, challenge());
    else sendLoginAnswer(req, res, target, login, challenge());
  }

  private sendUpstreamFailure(failure: UpstreamFailure, res: ServerResponse): void {
    const req = res.req;
    this.deps.logger.warn(
      { status: failure.status, reason: failure.reason, path: req.url?.split('?')[0] },
      'upstream failed',
    );
    if (res.headersSent || res.destroyed) return;
    const code = failure.status === 504 ? 'upstream_timeout' : 'upstream_unavailable';
    sendProblem(this.deps.chrome, req, res, failure.status, code, failureMessage(failure));
  }
}

/**
 * A handshake the check did not allow, as JSON: a WebSocket cannot follow a redirect.
 * `challenge`: the headers of a 401 (`CheckPipeline.challenge`).
 */
export function refuseCheckedUpgrade(
  socket: Socket,
  verdict: Verdict,
  answer: Refusal,
  baseUrl: string,
  challenge: () => string[],
): void {
  const target: Target = verdict.target;
  if (answer.kind === 'error') {
    if (answer.error.code === 'store_unavailable') {
      refuseUpgrade(socket, 503, { error: 'session store unavailable' }, ['Retry-After', '1']);
    } else refuseUpgrade(socket, 500, { error: 'internal error' });
    return;
  }
  if (answer.kind === 'login') {
    if (tokenRefused(verdict)) {
      refuseUpgrade(socket, 401, { error: 'invalid_token' }, challenge());
      return;
    }
    const login = loginUrl(baseUrl, targetUrl(target), answer);
    refuseUpgrade(socket, 401, { error: 'unauthenticated', login_url: login }, challenge());
    return;
  }
  refuseUpgrade(socket, 403, { error: 'forbidden' });
}

/** The upstream failed a handshake the check allowed. */
export function refuseFailedUpgrade(
  socket: Socket,
  failure: UpstreamFailure,
  logger: Logger,
): void {
  logger.warn(
    { status: failure.status, reason: failure.reason },
    'upstream failed a WebSocket handshake',
  );
  refuseUpgrade(socket, failure.status, {
    error: failure.status === 504 ? 'upstream timeout' : 'upstream unavailable',
  });
}

/** Answers a handshake that will not be forwarded, as JSON, and closes the connection. */
export function refuseUpgrade(
  socket: Socket,
  status: number,
  answer: Record<string, string>,
  headers: string[] = [],
): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(answer);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  head += `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`;
  socket.end(head + body);
}
