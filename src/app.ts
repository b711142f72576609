import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { MemoryStore } from './adapters/memory/memory-store.js';
import { RedisStore } from './adapters/redis/redis-store.js';
import type { Config } from './config/load.js';
import { storeIsRedis } from './config/schema.js';
import { type Clock, systemClock } from './core/clock.js';
import { allowedOriginsFrom } from './core/cors.js';
import type { AccessPolicy } from './core/decide.js';
import type { Identity } from './core/identity.js';
import { groupsFilterFrom, type HeaderNames } from './core/identity-headers.js';
import type { RedirectPolicy } from './core/redirect.js';
import { SessionTokens } from './core/session-token.js';
import { CheckPipeline } from './http/check/pipeline.js';
import { Csrf } from './http/csrf.js';
import { createCheckHandlers } from './http/forward-auth.js';
import type { PageDeps } from './http/handler.js';
import { Lifecycle } from './http/lifecycle.js';
import {
  createFinishLogin,
  createStartSession,
  type FinishLogin,
  type StartSession,
} from './http/login/finish-login.js';
import { createMagicLinkMethod } from './http/login/magic-link.js';
import { magicRedeemRoutes } from './http/login/magic-link-redeem.js';
import { type LoginMethod, orderLoginMethods } from './http/login/method.js';
import type { OidcMethodOptions } from './http/login/oidc.js';
import { createLoginPage, type RenderLoginPage } from './http/login/page.js';
import { createStepUp } from './http/login/step-up.js';
import { RecentProofs } from './http/login/step-up-recent.js';
import { type PageChrome, pageChrome } from './http/problem.js';
import { TrustedProxies } from './http/request.js';
import { accountRoutes } from './http/routes/account.js';
import { adminRoutes } from './http/routes/admin.js';
import { ForbiddenPages } from './http/routes/forbidden.js';
import { oauth2CompatRoutes } from './http/routes/oauth2-compat.js';
import { sessionRoutes } from './http/routes/session-routes.js';
import { createScimHandler } from './http/scim/handlers.js';
import { SCIM_BASE_PATH } from './http/scim/paths.js';
import { createHttpServer } from './http/server.js';
import { SessionCookie } from './http/session-cookie.js';
import { createLogger } from './logger.js';
import { checkHostedDomain } from './login/google-hosted-domain.js';
import { MagicLinkRequests } from './login/magic-link/request-link.js';
import { ResponsePacer } from './login/response-pacer.js';
import { createMailer } from './mail/create-mailer.js';
import type { Mailer } from './mail/mailer.js';
import type { Metrics } from './metrics.js';
import type { Store } from './ports/store.js';
import type { ReverseProxy } from './proxy/reverse-proxy.js';
import { createRuntimeKey, removeRuntimeKey } from './runtime-key.js';
import { ScimService } from './scim/service.js';
import { AdminService } from './services/admin.js';
import { AppTokenService } from './services/app-tokens.js';
import { AuditLog } from './services/audit.js';
import { LoginLinks } from './services/login-links.js';
import { PASSKEY_CHALLENGE_TTL_MS, PasskeyService } from './services/passkeys.js';
import { RateLimiter } from './services/rate-limit.js';
import { SecondFactorService } from './services/second-factor.js';
import { SessionService } from './services/sessions.js';
import { UserService } from './services/users.js';
import { keepNextTickShape } from './tick-shape.js';

export interface AppOptions {
  clock?: Clock;
  logger?: Logger;
  /**
   * Override the listen address (tests use port 0). `false`: bind nothing; tests hand requests
   * to `server`'s 'request' listener in-process, and `url` is `http://in-process`.
   */
  listen?: { host: string; port: number } | false;
}

/**
 * What the composition root built, for the process around it (main.ts logs through `logger`)
 * and for tests (they seed the store, issue links, read the policy). No handler receives this:
 * each gets only what it uses.
 */
export interface AppServices {
  config: Config;
  store: Store;
  sessions: SessionService;
  users: UserService;
  loginLinks: LoginLinks;
  admin: AdminService;
  audit: AuditLog;
  /** WebAuthn ceremonies and the users' passkeys (one instance per process). */
  passkeys: PasskeyService;
  /** TOTP and recovery codes (one instance per process). */
  secondFactors: SecondFactorService;
  clock: Clock;
  logger: Logger;
  policy: AccessPolicy;
  anonymousUser: Identity;
}

export interface App {
  ctx: AppServices;
  server: Server;
  /** The reverse proxy, when `proxy.upstream` is set. */
  proxy: ReverseProxy | null;
  /** `http://host:port` actually bound. */
  url: string;
  /**
   * Graceful stop (SIGTERM): readyz answers 503 at once and the listener keeps serving, with
   * `Connection: close`, until no request is in flight and every WebSocket has been told
   * goodbye and closed, or `drainMs` (default `server.drain_timeout`) has passed; then `close`.
   */
  shutdown(drainMs?: number): Promise<void>;
  /** Stops at once: open connections and WebSockets are cut. */
  close(): Promise<void>;
}

/** Opens the configured store; for Redis, waits briefly for it but starts anyway (checks answer 503 until it is up). */
export async function openStore(config: Config, clock: Clock, logger: Logger): Promise<Store> {
  // A user named like anonymous_user would pass as nobody in anonymous mode: no account gets it.
  const reservedUsernames = [config.raw.anonymous_user.id];
  if (!storeIsRedis(config.raw.store)) return new MemoryStore(clock, { reservedUsernames });
  const store = new RedisStore({
    url: config.raw.store.url,
    sentinel: config.raw.store.sentinel,
    cluster: config.raw.store.cluster,
    keyPrefix: config.raw.store.key_prefix,
    clock,
    reservedUsernames,
  });
  try {
    await store.waitUntilReady(5000);
  } catch {
    logger.warn('Redis is not reachable yet; auth checks answer 503 until it is');
  }
  return store;
}

/** What every login method is built from. */
interface LoginParts {
  store: Store;
  users: UserService;
  loginLinks: LoginLinks;
  sessions: SessionService;
  audit: AuditLog;
  mailer: Mailer;
  clock: Clock;
  logger: Logger;
  csrf: Csrf;
  proxies: TrustedProxies;
  chrome: PageChrome;
  loginPage: RenderLoginPage;
  finish: FinishLogin;
  /** Starts a session without answering (passkey sign-in answers JSON). */
  startSession: StartSession;
  redirectPolicy: RedirectPolicy;
  productName: string;
  baseUrl: string;
  cookie: SessionCookie;
  /** TOTP second factor for `basic` (`auth.basic.second_factor`). */
  secondFactors: SecondFactorService;
  /** Whether a user has a passkey (counts as a second factor); null when `passkey` is not enabled. */
  passkeys: PasskeyService | null;
  /** Whether a session signed in or stepped up lately (adding a passkey asks for it). */
  recent: RecentProofs;
}

/**
 * The enabled login methods in page order. Provider-backed methods are loaded only when enabled
 * (their libraries would otherwise sit in every process; see createMailer).
 */
async function buildLoginMethods(config: Config, parts: LoginParts): Promise<LoginMethod[]> {
  const { auth } = config.raw;
  const settings = auth.magic_link;
  const requests = new MagicLinkRequests(
    {
      store: parts.store,
      users: parts.users,
      links: parts.loginLinks,
      mailer: parts.mailer,
      limiter: new RateLimiter(parts.store, parts.clock),
      pacer: new ResponsePacer(),
      clock: parts.clock,
      logger: parts.logger,
    },
    {
      signup: auth.signup,
      allowedDomains: auth.allowed_domains,
      from: settings.from,
      ttlMs: settings.ttl,
      productName: parts.productName,
      site: config.publicOrigin,
    },
  );
  const methods = [
    createMagicLinkMethod({
      requests,
      audit: parts.audit,
      csrf: parts.csrf,
      proxies: parts.proxies,
      redirectPolicy: parts.redirectPolicy,
      chrome: parts.chrome,
      prefix: config.prefix,
      ttlMs: settings.ttl,
      loginPage: parts.loginPage,
    }),
  ];
  // The provider-backed methods need their settings, which check-config demands only when enabled.
  const enabled = new Set(auth.enabled_auth);
  if (enabled.has('google_oauth')) {
    methods.push(await buildOidcMethod(config, parts, googleOptions(config)));
  }
  if (enabled.has('oidc')) {
    methods.push(await buildOidcMethod(config, parts, oidcOptions(config)));
  }
  if (enabled.has('basic')) {
    const { PasswordChecker } = await import('./login/password-check.js');
    const { createPasswordMethod } = await import('./http/login/password.js');
    const mode = auth.basic.second_factor;
    let secondFactor = null;
    if (mode !== 'off') {
      const { PendingLogins } = await import('./http/login/totp-pending.js');
      const { createTotpLogin } = await import('./http/login/totp-login.js');
      const { createTotpSetup } = await import('./http/login/totp-setup.js');
      const pending = new PendingLogins(parts.store, parts.clock, {
        secure: config.secureCookies,
        prefix: config.prefix,
      });
      const page = {
        csrf: parts.csrf,
        proxies: parts.proxies,
        chrome: parts.chrome,
        prefix: config.prefix,
      };
      secondFactor = {
        login: createTotpLogin({
          ...page,
          mode,
          secondFactor: parts.secondFactors,
          passkeys: parts.passkeys,
          pending,
          users: parts.store,
          finish: parts.finish,
          audit: parts.audit,
        }),
        setup: createTotpSetup({
          ...page,
          cookie: parts.cookie,
          sessions: parts.sessions,
          secondFactor: parts.secondFactors,
          baseUrl: parts.baseUrl,
        }),
      };
    }
    methods.push(
      createPasswordMethod({
        checker: new PasswordChecker(parts.store, parts.clock, auth.basic.users),
        audit: parts.audit,
        csrf: parts.csrf,
        proxies: parts.proxies,
        redirectPolicy: parts.redirectPolicy,
        loginPage: parts.loginPage,
        finish: parts.finish,
        secondFactor,
      }),
    );
  }
  if (enabled.has('passkey') && parts.passkeys) {
    const { createPasskeyMethod } = await import('./http/login/passkey.js');
    methods.push(
      createPasskeyMethod({
        csrf: parts.csrf,
        proxies: parts.proxies,
        chrome: parts.chrome,
        prefix: config.prefix,
        passkeys: parts.passkeys,
        credentials: parts.store,
        users: parts.store,
        session: { cookie: parts.cookie, sessions: parts.sessions },
        startSession: parts.startSession,
        audit: parts.audit,
        limiter: new RateLimiter(parts.store, parts.clock),
        redirectPolicy: parts.redirectPolicy,
        origins: [config.publicOrigin],
        rpId: auth.passkey.rp_id ?? config.publicUrl.hostname,
        secureCookies: config.secureCookies,
        challengeTtlMs: PASSKEY_CHALLENGE_TTL_MS,
        recent: parts.recent,
      }),
    );
  }
  return orderLoginMethods(auth.enabled_auth, methods);
}

/** What `auth.oidc` and `auth.google_oauth` have in common. */
interface ProviderSettings {
  display_name?: string | undefined;
  client_id?: string | undefined;
  client_secret?: string | undefined;
  scopes: string[];
  pkce: boolean;
  link_by_email: boolean;
}

/** Each provider-backed method's path and the name its button has unless `display_name` says. */
const PROVIDERS = {
  google_oauth: { path: '/google', displayName: 'Google' },
  oidc: { path: '/oidc', displayName: 'single sign-on' },
} as const;

/** The options one provider's settings give, before what is particular to the method. */
function providerOptions(
  id: keyof typeof PROVIDERS,
  settings: ProviderSettings,
  issuer: string,
): OidcMethodOptions {
  // check-config demands these when the method is enabled; reaching here is a programming error.
  if (!settings.client_id) throw new Error(`auth.${id}.client_id is required`);
  return {
    id,
    path: PROVIDERS[id].path,
    displayName: settings.display_name ?? PROVIDERS[id].displayName,
    issuer,
    clientId: settings.client_id,
    clientSecret: settings.client_secret ?? null,
    scopes: settings.scopes,
    pkce: settings.pkce,
    groupsClaim: null,
    linkByEmail: settings.link_by_email,
  };
}

/** `auth.google_oauth`: OIDC with Google's issuer, `GOOGLE_CLIENT_ID`/`_SECRET`, and `hd` checks. */
function googleOptions(config: Config): OidcMethodOptions {
  const settings = config.raw.auth.google_oauth;
  const hostedDomains = settings.hosted_domains;
  return {
    ...providerOptions('google_oauth', settings, settings.issuer),
    // A hint only (Google's account chooser shows that domain); the claims are what count.
    authorizationParams: hostedDomains.length === 1 ? { hd: hostedDomains[0] as string } : {},
    checkClaims: (claims) => checkHostedDomain(claims, hostedDomains),
  };
}

/** `auth.oidc`: any OpenID Provider (Okta, Entra ID, Keycloak, Authentik, Dex, …). */
function oidcOptions(config: Config): OidcMethodOptions {
  const settings = config.raw.auth.oidc;
  if (!settings.issuer) throw new Error('auth.oidc.issuer is required');
  return {
    ...providerOptions('oidc', settings, settings.issuer),
    groupsClaim: settings.groups_claim,
  };
}

/** One OIDC-based method: its client, flow and start limiter, and its routes. */
async function buildOidcMethod(
  config: Config,
  parts: LoginParts,
  options: OidcMethodOptions,
): Promise<LoginMethod> {
  const { OidcClient } = await import('./login/oidc-client.js');
  const { OidcFlow } = await import('./login/oidc-flow.js');
  const { signInWithClaims } = await import('./login/oidc-signin.js');
  const { createOidcLoginMethod } = await import('./http/login/oidc.js');
  const { store, clock, logger } = parts;
  // `<public_url>/auth/<strategy>`: where the provider sends the browser back.
  const redirectUri = `${parts.baseUrl}${options.path}`;
  const client = new OidcClient(
    {
      issuer: options.issuer,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      redirectUri,
      scopes: options.scopes,
      pkce: options.pkce,
    },
    { clock },
  );
  if (client.insecureRemote) {
    logger.warn(
      { method: options.id, issuer: options.issuer },
      'the OIDC issuer is plain http on a non-loopback host: tokens cross the network unencrypted',
    );
  }
  const rules = {
    account: {
      signup: config.raw.auth.signup,
      allowedDomains: config.raw.auth.allowed_domains,
      linkByEmail: options.linkByEmail,
    },
    groupsClaim: options.groupsClaim,
    checkClaims: options.checkClaims,
  };
  return createOidcLoginMethod({
    options,
    redirectUri,
    flow: new OidcFlow(options.id, client, store, clock),
    limiter: new RateLimiter(store, clock),
    signIn: (claims) => signInWithClaims(store, clock, rules, claims),
    accounts: store,
    sessions: parts.sessions,
    audit: parts.audit,
    logger,
    proxies: parts.proxies,
    redirectPolicy: parts.redirectPolicy,
    secureCookies: config.secureCookies,
    prefix: config.prefix,
    loginPage: parts.loginPage,
    finish: parts.finish,
  });
}

/** The composition root: the only place that knows the concrete classes. */
export async function startApp(config: Config, options: AppOptions = {}): Promise<App> {
  // Before any traffic: the per-request nextTicks inside node:http must stay fast (see file).
  keepNextTickShape();
  const { raw, prefix, redirectPolicy } = config;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(raw.log.level, raw.log.format);
  for (const warning of config.warnings) logger.warn(warning);
  let secrets = config.secretKeys;
  let runtimeKey = false;
  if (!secrets) {
    secrets = [
      createRuntimeKey(config.path, (reason) =>
        logger.warn(`${reason}: portcullis login-url cannot sign links for this server`),
      ),
    ];
    runtimeKey = true;
    logger.warn(
      'auth.secret_key is not set: using a random key for this process (sessions end when it stops)',
    );
  }
  const store = await openStore(config, clock, logger);
  const tokens = await SessionTokens.create(secrets);
  const sessions = new SessionService(store, tokens, clock, {
    lifetimeMs: raw.session.lifetime,
    idleTimeoutMs: raw.session.idle_timeout,
    cacheTtlMs: 1000,
    cacheMaxEntries: 50_000,
  });
  const publicPath = config.publicUrl.pathname.replace(/\/+$/, '');
  const baseUrl = `${config.publicOrigin}${publicPath}${prefix}`;
  const anon = raw.anonymous_user;
  const users = new UserService(store, clock, raw.admin, { reservedUsernames: [anon.id] });
  const loginLinks = new LoginLinks(store, clock, secrets, raw.auth.magic_link.ttl, baseUrl);
  const productName = raw.ui.product_name;
  // Optional features are loaded only when configured (see createMailer for why).
  const metricsModule = raw.metrics.listen ? await import('./metrics.js') : null;
  const metrics: Metrics | null = metricsModule ? new metricsModule.Metrics() : null;
  const mailer = await createMailer(config, logger, () => clock.now());
  const audit = new AuditLog(store, clock, logger);
  const appTokens = new AppTokenService(store, store, clock, {
    maxLifetimeMs: raw.tokens.max_lifetime,
  });
  const passkeys = new PasskeyService(store, store, clock, {
    rpId: raw.auth.passkey.rp_id ?? config.publicUrl.hostname,
    rpName: raw.auth.passkey.rp_name,
    origins: [config.publicOrigin],
  });
  const secondFactors = new SecondFactorService(store, clock, {
    issuer: productName,
    secretKeys: secrets,
  });
  const admin = new AdminService({
    store,
    sessions,
    users,
    loginLinks,
    audit,
    appTokens: raw.tokens.enabled ? appTokens : null,
  });
  const policy: AccessPolicy = {
    defaultPolicy: raw.access.default_policy,
    rules: config.rules,
    anonymousMode: raw.anonymous_mode,
  };
  const anonymousUser: Identity = {
    id: anon.id,
    username: anon.id,
    email: anon.email,
    name: anon.name,
    groups: [],
    anonymous: true,
  };
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
  let loginMethods: readonly LoginMethod[] = [];
  const recent = new RecentProofs(store, clock);
  // A session lacking a factor a rule requires (`require`), or an old one adding a passkey.
  const stepUp = createStepUp({
    ...page,
    session: { cookie, sessions },
    sessions,
    passkeys: raw.auth.enabled_auth.includes('passkey') ? passkeys : null,
    secondFactor: secondFactors,
    recent,
    audit,
    limiter: new RateLimiter(store, clock),
    redirectPolicy,
    origins: [config.publicOrigin],
    secureCookies: config.secureCookies,
    challengeTtlMs: PASSKEY_CHALLENGE_TTL_MS,
    methods: () => loginMethods,
  });
  const loginPage = createLoginPage({
    session: { cookie, sessions },
    isAdmin: (user) => users.isAdmin(user),
    publicOrigin: config.publicOrigin,
    // Proxy mode: the app is behind us, at `/`, where "Continue" leads without an `rd`.
    app: upstream ? '/' : null,
    csrf,
    chrome,
    prefix,
    redirectPolicy,
    methods: () => loginMethods,
    stepUp: () => stepUp,
  });
  const finishDeps = {
    users,
    sessions,
    audit,
    metrics,
    cookie,
    proxies,
    redirectPolicy,
    prefix,
    // "Sign in faster next time on this device?" after a link or SSO sign-in.
    passkeyOffer: raw.auth.enabled_auth.includes('passkey')
      ? (await import('./http/login/passkey-enrol.js')).createPasskeyOffer(passkeys)
      : null,
  };
  const finish = createFinishLogin(finishDeps);
  loginMethods = await buildLoginMethods(config, {
    store,
    users,
    loginLinks,
    sessions,
    audit,
    mailer,
    clock,
    logger,
    csrf,
    proxies,
    chrome,
    loginPage: loginPage.render,
    finish,
    startSession: createStartSession(finishDeps),
    redirectPolicy,
    productName,
    baseUrl,
    cookie,
    secondFactors,
    passkeys: raw.auth.enabled_auth.includes('passkey') ? passkeys : null,
    recent,
  });
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
    ? (await import('./proxy/reverse-proxy.js')).createReverseProxy({
        settings: {
          upstream,
          connectTimeoutMs: raw.proxy.connect_timeout,
          headersTimeoutMs: raw.proxy.timeout,
          bodyTimeoutMs: raw.proxy.body_timeout,
          maxHeaderSize: raw.server.max_header_size,
          preserveHost: raw.proxy.preserve_host,
          defaultScheme: publicScheme,
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
      routes: {
        check: createCheckHandlers({
          pipeline,
          cookie,
          proxies,
          headerNames,
          metrics,
          logger,
          chrome,
          baseUrl,
          forbidden,
        }),
        loginPage: loginPage.handle,
        forbidden: forbidden.route,
        magic: magicRedeemRoutes({ ...page, loginLinks, users, audit, finish }),
        session: sessionRoutes({
          ...page,
          cookie,
          sessions,
          users,
          audit,
          baseUrl,
          redirectPolicy,
        }),
        account: accountRoutes({
          ...page,
          cookie,
          sessions,
          sessionList: store,
          appTokens: raw.tokens.enabled ? appTokens : null,
          audit,
          clock,
          baseUrl,
          maxTokenLifetimeMs: raw.tokens.max_lifetime,
          oidcName: raw.auth.oidc.display_name ?? 'Single sign-on',
          passkeys,
          secondFactors,
          passkeyEnabled: raw.auth.enabled_auth.includes('passkey'),
          basicEnabled: raw.auth.enabled_auth.includes('basic'),
          secondFactor: raw.auth.basic.second_factor,
        }),
        admin: adminRoutes({
          ...page,
          oidcName: raw.auth.oidc.display_name ?? 'Single sign-on',
          cookie,
          sessions,
          users,
          admin,
          baseUrl,
          explain: { policy, rules: raw.access.rules, anonymousUser },
          magicLinkTtlMs: raw.auth.magic_link.ttl,
          passwords: raw.auth.enabled_auth.includes('basic'),
          staticUsers: raw.auth.basic.users,
          tokenMaxLifetimeMs: raw.tokens.max_lifetime,
          now: () => clock.now(),
          factors: { passkeys, secondFactors, users: store, audit },
          mailer,
        }),
        // oauth2-proxy's and Authelia's paths; in proxy mode they belong to the upstream.
        compat:
          raw.server.compat_endpoints && !upstream
            ? oauth2CompatRoutes({ proxies, redirectPolicy, defaultScheme: publicScheme, baseUrl })
            : null,
        loginMethods,
        stepUp: stepUp.routes,
      },
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
  const listen = options.listen ?? config.listen;
  if (listen) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }
  let metricsServer: Server | null = null;
  if (metrics && metricsModule && config.raw.metrics.listen) {
    const at = /^\[?(.*?)\]?:(\d+)$/.exec(config.raw.metrics.listen) as RegExpExecArray;
    metrics.gauge('portcullis_store_up', 'Whether the session store answers (1) or not (0)', () =>
      store.ping().then(
        () => 1,
        () => 0,
      ),
    );
    metricsServer = await metricsModule.startMetricsServer(metrics, at[1] as string, Number(at[2]));
    logger.info({ listen: config.raw.metrics.listen }, 'metrics listening');
  }
  const address = server.address() as AddressInfo | null;
  const host = address?.family === 'IPv6' ? `[${address.address}]` : address?.address;
  const url = address ? `http://${host}:${address.port}` : 'http://in-process';
  logger.info({ url, store: store.kind, public_url: config.publicOrigin }, 'portcullis listening');
  let stopped: Promise<void> | null = null;
  // `server.close` called twice would wait forever for a 'close' that already happened.
  const stopListening = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return stopped;
  };
  const ctx: AppServices = {
    config,
    store,
    sessions,
    users,
    loginLinks,
    admin,
    audit,
    passkeys,
    secondFactors,
    clock,
    logger,
    policy,
    anonymousUser,
  };
  const app: App = {
    ctx,
    server,
    proxy,
    url,
    async shutdown(drainMs = config.raw.server.drain_timeout) {
      const started = Date.now();
      lifecycle.startDraining(server);
      logger.info(
        { in_flight: lifecycle.inFlight, websockets: proxy?.openTunnels ?? 0, drain_ms: drainMs },
        'draining: readyz answers 503; in-flight work may finish',
      );
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainMs);
      });
      const drained = (async () => {
        await Promise.all([lifecycle.whenIdle(), proxy?.drainTunnels()]);
        // Idle for now: stop taking connections, let the ones just accepted deliver their
        // request, and close only connections left idle (see Lifecycle.stopAccepting); then
        // finish what arrived meanwhile.
        lifecycle.stopAccepting();
        await lifecycle.whenQuiet();
        void stopListening();
        server.closeIdleConnections();
        await lifecycle.whenIdle();
      })();
      await Promise.race([drained, deadline]);
      clearTimeout(timer);
      const left = lifecycle.inFlight + (proxy?.openTunnels ?? 0);
      const log = left > 0 ? logger.warn.bind(logger) : logger.info.bind(logger);
      log(
        { ms: Date.now() - started, cut: left },
        left > 0 ? 'drain timeout: closing what is left' : 'drained',
      );
      await app.close();
    },
    async close() {
      // Upgraded sockets are not among the server's HTTP connections but still hold it open:
      // the proxy closes its tunnels (and its upstream pool) first.
      await proxy?.close();
      const closing = stopListening();
      server.closeAllConnections();
      await closing;
      await new Promise<void>((resolve) =>
        metricsServer ? metricsServer.close(() => resolve()) : resolve(),
      );
      await store.close();
      await mailer.close();
      if (runtimeKey) removeRuntimeKey(config.path);
    },
  };
  return app;
}
