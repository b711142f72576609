import { createCheckHandlers } from '../http/forward-auth.js';
import { magicRedeemRoutes } from '../http/login/magic-link-redeem.js';
import type { ServerRoutes } from '../http/route-table.js';
import { accountRoutes } from '../http/routes/account.js';
import { adminRoutes } from '../http/routes/admin.js';
import { oauth2CompatRoutes } from '../http/routes/oauth2-compat.js';
import { sessionRoutes } from '../http/routes/session-routes.js';
import type { EdgeParts } from './edge.js';
import type { LoginEdge } from './login.js';
import type { AppParts } from './services.js';

/** Every route handler the server serves, each handed only what it uses. */
export function composeRoutes(parts: AppParts, edge: EdgeParts, login: LoginEdge): ServerRoutes {
  const { config, store, clock, logger, sessions, users, audit, admin } = parts;
  const { appTokens, passkeys, secondFactors, policy, anonymousUser, mailer, metrics } = parts;
  const { loginLinks, baseUrl } = parts;
  const { raw, redirectPolicy } = config;
  const { pipeline, cookie, proxies, headerNames, chrome, forbidden, page } = edge;
  const { upstream, publicScheme } = edge;
  const { loginPage, finish, loginMethods, stepUp } = login;
  return {
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
      recent: login.recent,
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
      recent: login.recent,
    }),
    // oauth2-proxy's and Authelia's paths; in proxy mode they belong to the upstream.
    compat:
      raw.server.compat_endpoints && !upstream
        ? oauth2CompatRoutes({ proxies, redirectPolicy, defaultScheme: publicScheme, baseUrl })
        : null,
    loginMethods,
    stepUp: stepUp.routes,
  };
}
