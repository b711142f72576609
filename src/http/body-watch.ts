import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { PortcullisError } from '../core/errors.js';
import { answerProblem, type PageChrome } from './problem.js';
import { requestId } from './request.js';

/**
 * An answer went out before its request's body had all arrived (a refusal, a check, a 404, an
 * upstream that answered early): the rest is not read. Node would otherwise keep draining it
 * for the next request on the connection, and a client trickling a body would hold its socket
 * for as long as it liked. Shared, so no closure is made per request.
 */
export function closeIfBodyPending(this: ServerResponse): void {
  const req = this.req;
  // The socket is already detached (null) when the connection closed first.
  if (!req.complete) req.socket?.destroySoon();
}

/**
 * Bounds the silences in a body portcullis reads itself (forms, SCIM JSON): past
 * `server.body_timeout` without a byte the client gets 408 and the connection is closed. It
 * watches the socket's byte count rather than the stream, so it never changes how (or whether)
 * the handler reads the body.
 */
export function watchBody(
  deps: { chrome: PageChrome; logger: Logger },
  req: IncomingMessage,
  res: ServerResponse,
  ms: number,
): void {
  const socket = req.socket;
  let seen = socket.bytesRead;
  const timer = setTimeout(() => {
    if (req.complete || res.writableEnded || socket.destroyed) return;
    if (socket.bytesRead !== seen) {
      seen = socket.bytesRead;
      timer.refresh();
      return;
    }
    deps.logger.info(
      {
        request_id: requestId(req),
        peer: socket.remoteAddress,
        limit: ms,
        code: 'request_timeout',
        path: req.url?.split('?')[0],
      },
      'request body stalled: answered 408 (server.body_timeout)',
    );
    if (res.headersSent) {
      socket.destroy();
      return;
    }
    res.shouldKeepAlive = false;
    answerProblem(deps.chrome, req, res, new PortcullisError('request_timeout', 'body stalled'));
  }, ms);
  timer.unref();
  res.once('close', () => clearTimeout(timer));
}
