import type { Logger } from 'pino';
import { accessPolicyOf } from '../config/derive.js';
import type { Config } from '../config/load.js';
import type { Clock, Timers } from '../core/clock.js';
import type { AccessPolicy } from '../core/decide.js';
import { anonymousIdentity, type Identity } from '../core/identity.js';
import { SessionTokens } from '../core/session-token.js';
import type { Mailer } from '../mail/mailer.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../ports/store.js';
import { AdminService } from '../services/admin.js';
import { AppTokenService } from '../services/app-tokens.js';
import { AuditLog } from '../services/audit.js';
import { LoginLinks } from '../services/login-links.js';
import { PasskeyService } from '../services/passkeys.js';
import { SecondFactorService } from '../services/second-factor.js';
import { SessionService } from '../services/sessions.js';
import { UserService } from '../services/users.js';

/** What the process is built on: the config, the injected world, and the store. */
export interface AppWorld {
  config: Config;
  clock: Clock;
  /** Timers for the proxy's deadlines (a ManualClock in tests). */
  timers: Timers;
  logger: Logger;
  store: Store;
  /** `auth.secret_key`s, or this process's random key. */
  secrets: readonly Buffer[];
  mailer: Mailer;
  metrics: Metrics | null;
  /** `server.public_url`'s path, no trailing slash. */
  publicPath: string;
  /** Public base of portcullis' pages (origin + path prefix). */
  baseUrl: string;
}

/** The domain services, each built once over the store, and the access policy. */
export interface AppParts extends AppWorld {
  sessions: SessionService;
  users: UserService;
  loginLinks: LoginLinks;
  audit: AuditLog;
  appTokens: AppTokenService;
  passkeys: PasskeyService;
  secondFactors: SecondFactorService;
  admin: AdminService;
  policy: AccessPolicy;
  anonymousUser: Identity;
}

/** Builds the services (part of the composition root: only app.ts and compose/ construct). */
export async function composeServices(world: AppWorld): Promise<AppParts> {
  const { config, store, clock, logger, secrets, baseUrl } = world;
  const { raw } = config;
  const tokens = await SessionTokens.create(secrets);
  const sessions = new SessionService(store, tokens, clock, {
    lifetimeMs: raw.session.lifetime,
    idleTimeoutMs: raw.session.idle_timeout,
    cacheTtlMs: 1000,
    cacheMaxEntries: 50_000,
  });
  const anon = raw.anonymous_user;
  const users = new UserService(store, clock, raw.admin, { reservedUsernames: [anon.id] });
  const loginLinks = new LoginLinks(store, clock, secrets, raw.auth.magic_link.ttl, baseUrl);
  const productName = raw.ui.product_name;
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
  const policy: AccessPolicy = accessPolicyOf(config);
  const anonymousUser: Identity = anonymousIdentity(anon);
  return {
    ...world,
    sessions,
    users,
    loginLinks,
    audit,
    appTokens,
    passkeys,
    secondFactors,
    admin,
    policy,
    anonymousUser,
  };
}
