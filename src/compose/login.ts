import { createFinishLogin, createStartSession } from '../http/login/finish-login.js';
import type { LoginMethod } from '../http/login/method.js';
import { createLoginPage } from '../http/login/page.js';
import { createStepUp, type StepUp } from '../http/login/step-up.js';
import { RecentProofs } from '../http/login/step-up-recent.js';
import { PASSKEY_CHALLENGE_TTL_MS } from '../services/passkeys.js';
import { RateLimiter } from '../services/rate-limit.js';
import type { EdgeParts } from './edge.js';
import { buildLoginMethods } from './login-methods.js';
import type { AppParts } from './services.js';

/** The sign-in side of the edge: the login page, the enabled methods, the step-up. */
export interface LoginEdge {
  loginPage: ReturnType<typeof createLoginPage>;
  loginMethods: readonly LoginMethod[];
  stepUp: StepUp;
  finish: ReturnType<typeof createFinishLogin>;
  /** Fresh proofs: the account changes a stolen session must not make ask for one. */
  recent: RecentProofs;
}

/** Builds the login page, the step-up and every enabled login method. */
export async function composeLogin(parts: AppParts, edge: EdgeParts): Promise<LoginEdge> {
  const { config, store, clock, logger, sessions, users, audit, passkeys, secondFactors } = parts;
  const { raw, prefix, redirectPolicy } = config;
  const { cookie, proxies, chrome, csrf, page, upstream } = edge;
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
    metrics: parts.metrics,
    cookie,
    proxies,
    redirectPolicy,
    prefix,
    // "Sign in faster next time on this device?" after a link or SSO sign-in.
    passkeyOffer: raw.auth.enabled_auth.includes('passkey')
      ? (await import('../http/login/passkey-enrol.js')).createPasskeyOffer(passkeys)
      : null,
  };
  const finish = createFinishLogin(finishDeps);
  loginMethods = await buildLoginMethods(config, {
    store,
    users,
    loginLinks: parts.loginLinks,
    sessions,
    audit,
    mailer: parts.mailer,
    clock,
    logger,
    csrf,
    proxies,
    chrome,
    loginPage: loginPage.render,
    finish,
    startSession: createStartSession(finishDeps),
    redirectPolicy,
    productName: raw.ui.product_name,
    baseUrl: parts.baseUrl,
    cookie,
    secondFactors,
    passkeys: raw.auth.enabled_auth.includes('passkey') ? passkeys : null,
    recent,
  });
  return { loginPage, loginMethods, stepUp, finish, recent };
}
