import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { PortcullisError } from '../core/errors.js';
import { isPortcullisPath } from '../proxy/local-paths.js';
import type { ReverseProxy } from '../proxy/reverse-proxy.js';
import { closeIfBodyPending, watchBody } from './body-watch.js';
import { Lifecycle } from './lifecycle.js';
import { hasBody, sendError } from './problem.js';
import { headersTooLarge, rawProblem } from './raw-problem.js';
import { buildRoutes, type RouteTableDeps } from './route-table.js';
import type { ScimHandler } from './scim/handlers.js';
import { isScimPath } from './scim/paths.js';

// The routing table (which path goes to which handler) is route-table.ts.
export { buildRoutes, type RouteTableDeps, type ServerRoutes } from './route-table.js';
export { sendError };

/** `server.*` limits, read from the config once. */
export interface ServerLimits {
  maxHeaderSize: number;
  headerTimeoutMs: number;
  keepAliveTimeoutMs: number;
  bodyTimeoutMs: number;
  maxConnections: number;
}

export interface ServerDeps extends RouteTableDeps {
  scim: ScimHandler;
  limits: ServerLimits;
}

/** Header fields per request; real browsers send a few dozen. */
const MAX_HEADER_FIELDS = 1000;

/** `proxy`: reverse-proxy mode; every path outside the prefix and /scim/v2 goes to it. */
export function createHttpServer(
  deps: ServerDeps,
  proxy: ReverseProxy | null = null,
  lifecycle: Lifecycle = new Lifecycle(),
): Server {
  const routes = buildRoutes(deps, lifecycle);
  const { scim, prefix, limits, logger, chrome } = deps;
  const maxHeaderSize = limits.maxHeaderSize;
  const bodyTimeout = limits.bodyTimeoutMs;
  const server = createServer(
    {
      // No bound on a whole request: an upload may rightly take long. Its silences are bounded
      // instead (server.body_timeout here, proxy.body_timeout for forwarded bodies).
      requestTimeout: 0,
      headersTimeout: limits.headerTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node looks for expired header timers only this often (30 s by default), so a header
      // timeout fires within 1.5× itself. Not more often than every 5 s: with a 1 s interval the
      // check's p99 doubled (npm run bench, memory store: 2.3 → 5.1 ms; 1.8 ms at 5 s).
      connectionsCheckingInterval: Math.min(5000, Math.max(50, limits.headerTimeoutMs >> 1)),
      maxHeaderSize,
    },
    (req, res) => {
      lifecycle.track(res);
      // A request without a body (every auth check) is complete once its headers are read.
      const withBody = hasBody(req);
      if (withBody) res.on('finish', closeIfBodyPending);
      if (req.rawHeaders.length > 2 * MAX_HEADER_FIELDS) {
        // Node drops the fields past maxHeadersCount without a word; refuse instead of deciding
        // (or proxying) a request that is not the one the client sent.
        logger.warn(
          { peer: req.socket.remoteAddress, limit: MAX_HEADER_FIELDS, code: 'headers_too_large' },
          'request has too many header fields: answered 431',
        );
        res.shouldKeepAlive = false;
        sendError(
          deps,
          req,
          res,
          new PortcullisError('headers_too_large', 'too many header fields'),
        );
        return;
      }
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const route = routes.get(path);
      const method = req.method ?? 'GET';
      const handler = route
        ? (route.ANY ?? (method === 'HEAD' ? route.GET : route[method as 'GET' | 'POST']))
        : undefined;
      if (!handler) {
        // SCIM has ids in its paths; it is served here in both modes (never proxied).
        if (!route && isScimPath(path)) {
          if (withBody) watchBody(deps, req, res, bodyTimeout);
          scim(req, res, path, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
          return;
        }
        if (proxy && !route && !isPortcullisPath(prefix, path)) {
          proxy.handleRequest(req, res);
          return;
        }
        sendError(
          deps,
          req,
          res,
          new PortcullisError(route ? 'method_not_allowed' : 'not_found', `${method} ${path}`),
        );
        return;
      }
      if (withBody) watchBody(deps, req, res, bodyTimeout);
      try {
        const query = route?.ANY
          ? EMPTY_QUERY
          : new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
        const result = handler(req, res, query);
        if (result) result.catch((error: unknown) => sendError(deps, req, res, error));
      } catch (error) {
        sendError(deps, req, res, error);
      }
    },
  );
  // One more than we accept, so that a request past the limit is seen as such.
  server.maxHeadersCount = MAX_HEADER_FIELDS + 1;
  // Past it Node closes each new connection as soon as it is accepted: a flood costs this
  // instance no file descriptor and no parser, and health probes get in again once it ebbs.
  server.maxConnections = limits.maxConnections;
  let dropped = 0;
  let dropLogged = 0;
  server.on('drop', () => {
    dropped++;
    const now = Date.now();
    // One line per 10 s at most: a flood must not also flood the log.
    if (now - dropLogged < 10_000) return;
    dropLogged = now;
    logger.warn(
      { limit: limits.maxConnections, dropped, code: 'too_many_connections' },
      'connection limit reached: new connections are closed (server.max_connections)',
    );
    dropped = 0;
  });
  if (proxy) {
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      if (isPortcullisPath(prefix, q === -1 ? url : url.slice(0, q))) {
        socket.end(rawProblem(chrome, new PortcullisError('not_found', 'upgrade'), 'empty'));
        return;
      }
      if (req.rawHeaders.length > 2 * MAX_HEADER_FIELDS) {
        socket.end(
          rawProblem(chrome, new PortcullisError('headers_too_large', 'upgrade'), 'empty'),
        );
        return;
      }
      if (lifecycle.draining) {
        // A socket opened now would be cut when the drain ends: the client reconnects elsewhere.
        socket.end(rawProblem(chrome, new PortcullisError('shutting_down', 'upgrade'), 'empty'));
        return;
      }
      proxy.handleUpgrade(req, socket, head);
    });
  }
  server.on(
    'clientError',
    (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      if (error.code === 'HPE_HEADER_OVERFLOW') {
        logger.warn(
          { peer: socket.remoteAddress, limit: maxHeaderSize, code: 'headers_too_large' },
          'request headers too large: answered 431 (raise server.max_header_size if they are legitimate)',
        );
        socket.end(headersTooLarge(chrome, maxHeaderSize, error.rawPacket));
        return;
      }
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        // server.header_timeout: no request was parsed, so nothing else can be on this socket.
        logger.debug(
          { peer: socket.remoteAddress, limit: limits.headerTimeoutMs, code: 'request_timeout' },
          'request headers not received in time: answered 408',
        );
        socket.end(rawProblem(chrome, new PortcullisError('request_timeout', 'headers'), 'empty'));
        return;
      }
      socket.end(rawProblem(chrome, new PortcullisError('bad_request', error.code), 'empty'));
    },
  );
  return server;
}

const EMPTY_QUERY = new URLSearchParams();
