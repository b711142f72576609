import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Logo } from '../config/file-values.js';
import { PortcullisError } from '../core/errors.js';
import { STYLESHEET } from '../html.js';
import type { StoreHealth } from '../ports/store-health.js';
import { isPortcullisPath } from '../proxy/local-paths.js';
import type { ReverseProxy } from '../proxy/reverse-proxy.js';
import type { CheckHandlers } from './forward-auth.js';
import type { Handler } from './handler.js';
import { Lifecycle } from './lifecycle.js';
import type { MagicRedeemRoutes } from './login/magic-link-redeem.js';
import type { LoginMethod, LoginRoute } from './login/method.js';
import {
  answerProblem,
  hasBody,
  type PageChrome,
  type ProblemFormat,
  rawAnswer,
  renderProblem,
  sendError,
} from './problem.js';
import { requestId } from './request.js';
import { redirect, sendBody } from './respond.js';
import type { AccountRoutes } from './routes/account.js';
import type { AdminRoutes } from './routes/admin.js';
import type { Oauth2CompatRoutes } from './routes/oauth2-compat.js';
import type { SessionRoutes } from './routes/session-routes.js';
import type { ScimHandler } from './scim/handlers.js';
import { isScimPath } from './scim/paths.js';

export { sendError };

/** The handlers the server routes to, each built by the composition root with its own deps. */
export interface ServerRoutes {
  check: CheckHandlers;
  loginPage: Handler;
  /** `<prefix>/forbidden`: the 403 page nginx's `error_page 403` serves. */
  forbidden: Handler;
  magic: MagicRedeemRoutes;
  session: SessionRoutes;
  admin: AdminRoutes;
  /** `/auth/account`: the signed-in user's sessions and app tokens. */
  account: AccountRoutes;
  /** oauth2-proxy's sign-in paths and the compat checks; null when they are not served. */
  compat: Oauth2CompatRoutes | null;
  /** The enabled login methods; each brings its own routes. */
  loginMethods: readonly LoginMethod[];
  /** The step-up's routes (`/passkey/step-up…`, `/totp/step-up`), under the prefix. */
  stepUp?: readonly LoginRoute[];
}

/** `server.*` limits, read from the config once. */
export interface ServerLimits {
  maxHeaderSize: number;
  headerTimeoutMs: number;
  keepAliveTimeoutMs: number;
  bodyTimeoutMs: number;
  maxConnections: number;
}

export interface RouteTableDeps {
  /** `server.path_prefix`. */
  prefix: string;
  routes: ServerRoutes;
  /** Answers readyz. */
  store: Pick<StoreHealth, 'ready'>;
  /** `ui.logo_file`, read at load. */
  logo: Logo | null;
  /** Standing alone (no `proxy.upstream`): `/` leads to the sign-in page. */
  standalone: boolean;
  chrome: PageChrome;
  logger: Logger;
}

export interface ServerDeps extends RouteTableDeps {
  scim: ScimHandler;
  limits: ServerLimits;
}

interface Route {
  GET?: Handler;
  POST?: Handler;
  /** Any method (the auth checks: nginx and Traefik forward the original method). */
  ANY?: Handler;
}

/** Builds the exact-path routing table once; a lookup is one Map get. */
export function buildRoutes(
  deps: RouteTableDeps,
  lifecycle: Lifecycle = new Lifecycle(),
): Map<string, Route> {
  const p = deps.prefix;
  const { check, magic, session, admin, compat } = deps.routes;
  const routes = new Map<string, Route>([
    [`${p}/nginx`, { ANY: check('nginx', 'portcullis') }],
    [`${p}/traefik`, { ANY: check('traefik', 'portcullis') }],
    [`${p}/login`, { GET: deps.routes.loginPage }],
    [`${p}/magic`, { GET: magic.confirm, POST: magic.redeem }],
    [`${p}/logout`, { GET: session.logoutPage, POST: session.logout }],
    [`${p}/forbidden`, { GET: deps.routes.forbidden }],
    [`${p}/me`, { GET: session.me }],
    [`${p}/admin`, { GET: admin.page, POST: admin.action }],
    [`${p}/account`, { GET: deps.routes.account.page, POST: deps.routes.account.action }],
    [
      `${p}/healthz`,
      {
        GET: (req, res) =>
          sendBody(req, res, 200, 'text/plain; charset=utf-8', 'ok\n', [
            'Cache-Control',
            'no-store',
          ]),
      },
    ],
    [
      `${p}/readyz`,
      {
        GET: async (req, res) => {
          if (lifecycle.draining) {
            // Shutting down: load balancers take this instance out while it finishes its work.
            sendBody(req, res, 503, 'text/plain; charset=utf-8', 'shutting down\n', [
              'Cache-Control',
              'no-store',
            ]);
            return;
          }
          // Every node the store needs (each Cluster primary), not just one that answers.
          if (await deps.store.ready()) {
            sendBody(req, res, 200, 'text/plain; charset=utf-8', 'ready\n', [
              'Cache-Control',
              'no-store',
            ]);
          } else {
            sendBody(req, res, 503, 'text/plain; charset=utf-8', 'store unreachable\n', [
              'Cache-Control',
              'no-store',
            ]);
          }
        },
      },
    ],
    [
      `${p}/static/logo`,
      {
        GET: (req, res) => {
          const logo = deps.logo;
          if (!logo) {
            sendError(deps, req, res, new PortcullisError('not_found', 'no logo configured'));
            return;
          }
          res.writeHead(200, [
            'Content-Type',
            logo.contentType,
            'Content-Length',
            String(logo.bytes.length),
            'Cache-Control',
            'public, max-age=3600',
            'X-Content-Type-Options',
            'nosniff',
            // An SVG opened on its own must not run script.
            'Content-Security-Policy',
            "default-src 'none'; style-src 'unsafe-inline'",
          ]);
          res.end(req.method === 'HEAD' ? undefined : logo.bytes);
        },
      },
    ],
    [
      `${p}/static/style.css`,
      {
        GET: (req, res) =>
          sendBody(req, res, 200, 'text/css; charset=utf-8', STYLESHEET, [
            'Cache-Control',
            'public, max-age=3600',
          ]),
      },
    ],
  ]);
  // Each login method brings its own routes (POST /auth/magic_link, /auth/google, ...).
  for (const method of deps.routes.loginMethods) {
    for (const route of method.routes) routes.set(`${p}${route.path}`, route);
  }
  for (const route of deps.routes.stepUp ?? []) routes.set(`${p}${route.path}`, route);
  if (compat) {
    routes.set('/oauth2/sign_in', { GET: compat.signIn });
    routes.set('/oauth2/start', { GET: compat.signIn });
    routes.set('/oauth2/sign_out', { GET: compat.signOut });
    routes.set('/oauth2/auth', { ANY: check('oauth2', 'oauth2-proxy') });
    routes.set('/api/authz/forward-auth', { ANY: check('traefik', 'authelia') });
    routes.set('/api/authz/auth-request', { ANY: check('nginx', 'authelia') });
    routes.set('/api/verify', { ANY: check('verify', 'authelia') });
  }
  if (deps.standalone && !routes.has('/')) {
    // Standing alone (the quick start), a link whose rd is `/` lands here: show the sign-in page,
    // which names the signed-in user, instead of a 404.
    routes.set('/', { GET: (_req, res) => redirect(res, 302, `${p}/login`) });
  }
  return routes;
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

/**
 * An answer went out before its request's body had all arrived (a refusal, a check, a 404, an
 * upstream that answered early): the rest is not read. Node would otherwise keep draining it
 * for the next request on the connection, and a client trickling a body would hold its socket
 * for as long as it liked. Shared, so no closure is made per request.
 */
function closeIfBodyPending(this: ServerResponse): void {
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
function watchBody(
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

/** Sniffs `Accept: application/json` in what was read: the overflowing headers are never parsed. */
const ACCEPTS_JSON = /\r\naccept:[^\r\n]*application\/json/i;
/** The request-target of the request line, up to its query. */
const REQUEST_PATH = /^[A-Z]+ ([^ ?\r\n]*)/;

/** An answer written on a socket that has no response object to answer through. */
function rawProblem(chrome: PageChrome, error: PortcullisError, format: ProblemFormat): string {
  return rawAnswer(renderProblem(error, format, chrome));
}

/**
 * The whole 431 answer, written on the socket: Node's parser gave up, so there is no request
 * or response object to answer through. Same shapes as every other error (SPEC §5).
 */
function headersTooLarge(chrome: PageChrome, limit: number, raw: Buffer | undefined): string {
  const message = `The request's headers are larger than this server accepts (${Math.round(limit / 1024)} KB). Clearing this site's cookies usually fixes it.`;
  const text = raw?.toString('latin1') ?? '';
  const format: ProblemFormat = isScimPath(REQUEST_PATH.exec(text)?.[1] ?? '')
    ? 'scim'
    : ACCEPTS_JSON.test(text)
      ? 'json'
      : 'page';
  return rawProblem(chrome, new PortcullisError('headers_too_large', 'headers', message), format);
}

const EMPTY_QUERY = new URLSearchParams();
