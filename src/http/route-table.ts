import type { Logger } from 'pino';
import type { Logo } from '../config/file-values.js';
import { PortcullisError } from '../core/errors.js';
import { STYLESHEET } from '../html.js';
import type { StoreHealth } from '../ports/store-health.js';
import type { CheckHandlers } from './forward-auth.js';
import type { Handler } from './handler.js';
import { Lifecycle } from './lifecycle.js';
import type { MagicRedeemRoutes } from './login/magic-link-redeem.js';
import type { LoginMethod, LoginRoute } from './login/method.js';
import { type PageChrome, sendError } from './problem.js';
import { redirect, sendBody } from './respond.js';
import type { AccountRoutes } from './routes/account.js';
import type { AdminRoutes } from './routes/admin.js';
import type { Oauth2CompatRoutes } from './routes/oauth2-compat.js';
import type { SessionRoutes } from './routes/session-routes.js';

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

export interface Route {
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
