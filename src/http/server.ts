import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isPortcullisError, PortcullisError } from '../core/errors.js';
import { StoreUnavailableError } from '../ports/store.js';
import { isPortcullisPath } from '../proxy/local-paths.js';
import type { ReverseProxy } from '../proxy/reverse-proxy.js';
import { createScimHandler, isScimPath } from '../scim/handlers.js';
import type { AppContext } from './context.js';
import {
  type CheckNames,
  checkNames,
  type Dialect,
  failureHeaders,
  handleCheck,
} from './forward-auth.js';
import { STYLESHEET } from './html.js';
import { sendProblem } from './pages.js';
import { requestId } from './request.js';
import { redirect, sendBody } from './respond.js';
import { handleAdminAction, handleAdminPage } from './routes/admin.js';
import { handleLoginPage } from './routes/login.js';
import { handleMagicConfirm, handleMagicRedeem } from './routes/magic.js';
import { handleOauth2SignIn, handleOauth2SignOut } from './routes/oauth2-compat.js';
import { handleLogout, handleLogoutPage, handleMe } from './routes/session-routes.js';

type Handler = (
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
) => void | Promise<void>;

interface Route {
  GET?: Handler;
  POST?: Handler;
  /** Any method (the auth checks: nginx and Traefik forward the original method). */
  ANY?: Handler;
}

const check =
  (dialect: Dialect, names: CheckNames): Handler =>
  (ctx, req, res) =>
    handleCheck(ctx, dialect, names, req, res);

/** Builds the exact-path routing table once; a lookup is one Map get. */
export function buildRoutes(ctx: AppContext): Map<string, Route> {
  const p = ctx.config.prefix;
  const own = checkNames(ctx.headerNames, 'portcullis');
  const routes = new Map<string, Route>([
    [`${p}/nginx`, { ANY: check('nginx', own) }],
    [`${p}/traefik`, { ANY: check('traefik', own) }],
    [`${p}/login`, { GET: handleLoginPage }],
    [`${p}/magic`, { GET: handleMagicConfirm, POST: handleMagicRedeem }],
    [`${p}/logout`, { GET: handleLogoutPage, POST: handleLogout }],
    [`${p}/me`, { GET: handleMe }],
    [`${p}/admin`, { GET: handleAdminPage, POST: handleAdminAction }],
    [
      `${p}/healthz`,
      {
        GET: (_c, req, res) =>
          sendBody(req, res, 200, 'text/plain; charset=utf-8', 'ok\n', [
            'Cache-Control',
            'no-store',
          ]),
      },
    ],
    [
      `${p}/readyz`,
      {
        GET: async (c, req, res) => {
          try {
            await c.store.ping();
            sendBody(req, res, 200, 'text/plain; charset=utf-8', 'ready\n', [
              'Cache-Control',
              'no-store',
            ]);
          } catch {
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
        GET: (c, req, res) => {
          const logo = c.config.logo;
          if (!logo) {
            sendError(c, req, res, new PortcullisError('not_found', 'no logo configured'));
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
        GET: (_c, req, res) =>
          sendBody(req, res, 200, 'text/css; charset=utf-8', STYLESHEET, [
            'Cache-Control',
            'public, max-age=3600',
          ]),
      },
    ],
  ]);
  // Each login method brings its own routes (POST /auth/magic_link, /auth/google, ...).
  for (const method of ctx.loginMethods) {
    for (const route of method.routes) routes.set(`${p}${route.path}`, route);
  }
  if (ctx.config.raw.server.compat_endpoints && !ctx.config.raw.proxy.upstream) {
    const authelia = checkNames(ctx.headerNames, 'authelia');
    routes.set('/oauth2/sign_in', { GET: handleOauth2SignIn });
    routes.set('/oauth2/start', { GET: handleOauth2SignIn });
    routes.set('/oauth2/sign_out', { GET: handleOauth2SignOut });
    routes.set('/oauth2/auth', {
      ANY: check('oauth2', checkNames(ctx.headerNames, 'oauth2-proxy')),
    });
    routes.set('/api/authz/forward-auth', { ANY: check('traefik', authelia) });
    routes.set('/api/authz/auth-request', { ANY: check('nginx', authelia) });
    routes.set('/api/verify', { ANY: check('verify', authelia) });
  }
  if (!ctx.config.raw.proxy.upstream && !routes.has('/')) {
    // Standing alone (the quick start), a link whose rd is `/` lands here: show the sign-in page,
    // which names the signed-in user, instead of a 404.
    routes.set('/', { GET: (c, _req, res) => redirect(res, 302, `${c.config.prefix}/login`) });
  }
  return routes;
}

/** Errors become HTTP answers here and nowhere else. */
export function sendError(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  error: unknown,
): void {
  const known: PortcullisError = isPortcullisError(error)
    ? error
    : new PortcullisError(
        error instanceof StoreUnavailableError ? 'store_unavailable' : 'internal',
        (error as Error)?.message,
      );
  const log =
    known.status >= 500 ? ctx.logger.error.bind(ctx.logger) : ctx.logger.info.bind(ctx.logger);
  log(
    {
      request_id: requestId(req),
      code: known.code,
      detail: known.message,
      method: req.method,
      path: req.url?.split('?')[0],
    },
    'request failed',
  );
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendProblem(ctx, req, res, known.status, known.code, known.publicMessage, failureHeaders(known));
}

/** `proxy`: reverse-proxy mode; every path outside the prefix and /scim/v2 goes to it. */
export function createHttpServer(ctx: AppContext, proxy: ReverseProxy | null = null): Server {
  const routes = buildRoutes(ctx);
  const scim = createScimHandler(ctx);
  const prefix = ctx.config.prefix;
  const server = createServer(
    {
      // A proxied upload may take longer than any fixed limit; the proxy times its silences.
      requestTimeout: proxy ? 0 : 30_000,
      headersTimeout: 20_000,
      keepAliveTimeout: 75_000,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => {
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
          scim(req, res, path, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
          return;
        }
        if (proxy && !route && !isPortcullisPath(prefix, path)) {
          proxy.handleRequest(req, res);
          return;
        }
        sendError(
          ctx,
          req,
          res,
          new PortcullisError(route ? 'method_not_allowed' : 'not_found', `${method} ${path}`),
        );
        return;
      }
      try {
        const query = route?.ANY
          ? EMPTY_QUERY
          : new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
        const result = handler(ctx, req, res, query);
        if (result) result.catch((error: unknown) => sendError(ctx, req, res, error));
      } catch (error) {
        sendError(ctx, req, res, error);
      }
    },
  );
  if (proxy) {
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      if (isPortcullisPath(prefix, q === -1 ? url : url.slice(0, q))) {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      proxy.handleUpgrade(req, socket, head);
    });
  }
  server.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

const EMPTY_QUERY = new URLSearchParams();
