import type { Server } from 'node:http';
import { allowedOriginsFrom } from '../core/cors.js';
import { groupsFilterFrom, type HeaderNames } from '../core/identity-headers.js';
import { CheckPipeline } from '../http/check/pipeline.js';
import { Csrf } from '../http/csrf.js';
import type { PageDeps } from '../http/handler.js';
import { Lifecycle } from '../http/lifecycle.js';
import { type PageChrome, pageChrome } from '../http/problem.js';
import { TrustedProxies } from '../http/request.js';
import { ForbiddenPages } from '../http/routes/forbidden.js';
import { createScimHandler } from '../http/scim/handlers.js';
import { SCIM_BASE_PATH } from '../http/scim/paths.js';
import { createHttpServer } from '../http/server.js';
import { SessionCookie } from '../http/session-cookie.js';
import type { ReverseProxy } from '../proxy/reverse-proxy.js';
import { ScimService } from '../scim/service.js';
import { composeLogin } from './login.js';
import { composeRoutes } from './routes.js';
import type { AppParts } from './services.js';

/** What the HTTP edge shares, each built once. */
export interface EdgeParts {
  cookie: SessionCookie;
  proxies: TrustedProxies;
  chrome: PageChrome;
  csrf: Csrf;
  page: PageDeps;
  pipeline: CheckPipeline;
  forbidden: ForbiddenPages;
  headerNames: HeaderNames;
  /** `tokens.header`, lower-cased; null when none is configured or tokens are off. */
  tokenHeader: string | null;
  /** `proxy.upstream`: reverse-proxy mode when set. */
  upstream: string | null;
  publicScheme: 'http' | 'https';
}

/** The edge: the check pipeline, the routes, SCIM, the reverse proxy, and the server. */
export interface Edge {
  server: Server;
  proxy: ReverseProxy | null;
  lifecycle: Lifecycle;
}

/** Builds the HTTP edge over the services (part of the composition root). */
export async function composeEdge(parts: AppParts): Promise<Edge> {
  const { config, store, clock, timers, logger, sessions, users, audit, appTokens } = parts;
  const { policy, anonymousUser, baseUrl, publicPath } = parts;
  const { raw, prefix, redirectPolicy } = config;
  const productName = raw.ui.product_name;
  const headerNames: HeaderNames = {
    ...raw.headers,
    groupsFilter: groupsFilterFrom(raw.headers.groups_filter, raw.access.rules),
    userValue: raw.headers.user_value,
  };
  const upstream = raw.proxy.upstream;
  const publicScheme = config.publicUrl.protocol === 'https:' ? 'https' : 'http';

  // What the HTTP edge shares, each built once.
  const cookie = new SessionCookie({
    name: raw.session.cookie_name,
    secure: config.secureCookies,
    domain: raw.session.cookie_domain ?? null,
    lifetimeMs: raw.session.lifetime,
  });
  const proxies = new TrustedProxies(config.trustedProxies);
  const chrome = pageChrome({ prefix, productName, hasLogo: config.logo !== null });
  const csrf = new Csrf({
    secretKeys: config.secretKeys,
    cookie,
    secureCookies: config.secureCookies,
    prefix,
    publicOrigin: config.publicOrigin,
  });
  const tokenHeader = raw.tokens.enabled ? (raw.tokens.header?.toLowerCase() ?? null) : null;
  const pipeline = new CheckPipeline({
    policy,
    anonymousUser,
    sessions,
    logger,
    tokens: raw.tokens.enabled ? { service: appTokens, header: tokenHeader } : null,
    cors: allowedOriginsFrom(raw.cors.allowed_origins),
  });
  const page: PageDeps = { csrf, proxies, chrome, prefix };
  // The 403 a signed-in person sees: checks, reverse proxy and `<prefix>/forbidden` (nginx).
  const forbidden = new ForbiddenPages({
    chrome,
    csrf,
    baseUrl,
    publicOrigin: config.publicOrigin,
    policy,
    redirectPolicy,
    session: { cookie, sessions },
    decide: (target, lookup) => pipeline.decision(target, lookup),
    proxies,
  });
  const edge: EdgeParts = {
    cookie,
    proxies,
    chrome,
    csrf,
    page,
    pipeline,
    forbidden,
    headerNames,
    tokenHeader,
    upstream,
    publicScheme,
  };
  const login = await composeLogin(parts, edge);
  const scim = createScimHandler({
    enabled: raw.scim.enabled,
    credentials: {
      user: config.env.scimUser,
      password: config.env.scimPassword,
      bearerToken: config.env.scimBearerToken,
    },
    service: new ScimService({
      users: store,
      groups: store,
      sessions,
      clock,
      logger,
      audit,
      isProtectedAdmin: (user) => users.isAdmin({ ...user, groups: [] }),
      base: `${config.publicOrigin}${publicPath}${SCIM_BASE_PATH}`,
    }),
    failures: store,
    proxies,
    chrome,
    logger,
  });
  const proxy = upstream
    ? (await import('../proxy/reverse-proxy.js')).createReverseProxy({
        settings: {
          upstream,
          connectTimeoutMs: raw.proxy.connect_timeout,
          headersTimeoutMs: raw.proxy.timeout,
          bodyTimeoutMs: raw.proxy.body_timeout,
          maxHeaderSize: raw.server.max_header_size,
          preserveHost: raw.proxy.preserve_host,
          defaultScheme: publicScheme,
          timers,
        },
        pipeline,
        cookie,
        proxies,
        headerNames,
        tokenHeader,
        sessions,
        revocations: store,
        chrome,
        baseUrl,
        logger,
        forbidden,
      })
    : null;
  const lifecycle = new Lifecycle();
  const server = createHttpServer(
    {
      prefix,
      routes: composeRoutes(parts, edge, login),
      scim,
      store,
      logo: config.logo,
      standalone: !upstream,
      limits: {
        maxHeaderSize: raw.server.max_header_size,
        headerTimeoutMs: raw.server.header_timeout,
        keepAliveTimeoutMs: raw.server.keepalive_timeout,
        bodyTimeoutMs: raw.server.body_timeout,
        maxConnections: raw.server.max_connections,
      },
      chrome,
      logger,
    },
    proxy,
    lifecycle,
  );
  return { server, proxy, lifecycle };
}
