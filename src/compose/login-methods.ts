import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import type { RedirectPolicy } from '../core/redirect.js';
import type { Csrf } from '../http/csrf.js';
import type { FinishLogin, StartSession } from '../http/login/finish-login.js';
import { createMagicLinkMethod } from '../http/login/magic-link.js';
import { type LoginMethod, orderLoginMethods } from '../http/login/method.js';
import type { RenderLoginPage } from '../http/login/page.js';
import type { RecentProofs } from '../http/login/step-up-recent.js';
import type { PageChrome } from '../http/problem.js';
import type { TrustedProxies } from '../http/request.js';
import type { SessionCookie } from '../http/session-cookie.js';
import { MagicLinkRequests } from '../login/magic-link/request-link.js';
import { ResponsePacer } from '../login/response-pacer.js';
import type { Mailer } from '../mail/mailer.js';
import type { Store } from '../ports/store.js';
import type { AuditLog } from '../services/audit.js';
import type { LoginLinks } from '../services/login-links.js';
import { PASSKEY_CHALLENGE_TTL_MS, type PasskeyService } from '../services/passkeys.js';
import { RateLimiter } from '../services/rate-limit.js';
import type { SecondFactorService } from '../services/second-factor.js';
import type { SessionService } from '../services/sessions.js';
import type { UserService } from '../services/users.js';
import { buildOidcMethod, googleOptions, oidcOptions } from './oidc-method.js';

/** What every login method is built from. */
export interface LoginParts {
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
export async function buildLoginMethods(config: Config, parts: LoginParts): Promise<LoginMethod[]> {
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
    const { PasswordChecker } = await import('../login/password-check.js');
    const { createPasswordMethod } = await import('../http/login/password.js');
    const mode = auth.basic.second_factor;
    let secondFactor = null;
    if (mode !== 'off') {
      const { PendingLogins } = await import('../http/login/totp-pending.js');
      const { createTotpLogin } = await import('../http/login/totp-login.js');
      const { createTotpSetup } = await import('../http/login/totp-setup.js');
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
          recent: parts.recent,
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
    const { createPasskeyMethod } = await import('../http/login/passkey.js');
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
