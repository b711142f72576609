import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import type { Clock } from '../../core/clock.js';
import { MagicLinkRequests } from '../../login/magic-link/request-link.js';
import { ResponsePacer } from '../../login/response-pacer.js';
import type { Mailer } from '../../mail/mailer.js';
import type { Store } from '../../ports/store.js';
import type { LoginLinks } from '../../services/login-links.js';
import { RateLimiter } from '../../services/rate-limit.js';
import type { UserService } from '../../services/users.js';
import { createMagicLinkMethod } from './magic-link.js';
import { type LoginMethod, orderLoginMethods } from './method.js';

export interface LoginMethodDeps {
  config: Config;
  store: Store;
  users: UserService;
  loginLinks: LoginLinks;
  mailer: Mailer;
  clock: Clock;
  logger: Logger;
  productName: string;
}

/**
 * Builds the enabled login methods in page order. Provider-backed methods are loaded only when
 * enabled (their libraries would otherwise sit in every process; see createMailer).
 */
export async function createLoginMethods(deps: LoginMethodDeps): Promise<LoginMethod[]> {
  const { config } = deps;
  const settings = config.raw.auth.magic_link;
  const magicLink = createMagicLinkMethod(
    new MagicLinkRequests(
      {
        store: deps.store,
        users: deps.users,
        links: deps.loginLinks,
        mailer: deps.mailer,
        limiter: new RateLimiter(deps.store, deps.clock),
        pacer: new ResponsePacer(),
        clock: deps.clock,
        logger: deps.logger,
      },
      {
        signup: config.raw.auth.signup,
        allowedDomains: config.raw.auth.allowed_domains,
        from: settings.from,
        ttlMs: settings.ttl,
        productName: deps.productName,
        site: config.publicOrigin,
      },
    ),
    settings.ttl,
  );
  // The provider-backed methods need their settings, which check-config demands only when enabled.
  const enabled = new Set(config.raw.auth.enabled_auth);
  const sso = { config, store: deps.store, clock: deps.clock, logger: deps.logger };
  const methods = [magicLink];
  if (enabled.has('google_oauth')) {
    const { createGoogleMethod } = await import('./google.js');
    methods.push(createGoogleMethod(sso));
  }
  if (enabled.has('oidc')) {
    const { createOidcMethod } = await import('./oidc.js');
    methods.push(createOidcMethod(sso));
  }
  if (enabled.has('basic')) {
    const { createPasswordMethod } = await import('./password.js');
    methods.push(createPasswordMethod(sso));
  }
  return orderLoginMethods(config.raw.auth.enabled_auth, methods);
}
