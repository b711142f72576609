import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import type { Clock } from '../../core/clock.js';
import { readCookie, serializeCookie } from '../../core/cookies.js';
import { safeRedirect } from '../../core/redirect.js';
import { html } from '../../html.js';
import type { LoginMethodId } from '../../login/method-id.js';
import { OidcClient, type OidcClientOptions, ProviderError } from '../../login/oidc-client.js';
import {
  BINDING_COOKIE,
  FLOW_TTL_MS,
  type FlowFailure,
  OidcFlow,
  type VerifiedClaims,
} from '../../login/oidc-flow.js';
import {
  failureDetail,
  failureMessage,
  type Refusal,
  refusalMessage,
  startLimitedText,
} from '../../login/oidc-messages.js';
import {
  type SignInOutcome,
  START_LIMIT,
  signInWithClaims,
  wantedClaims,
} from '../../login/oidc-signin.js';
import type { Store } from '../../ports/store.js';
import { ANONYMOUS_ACTOR, type AuditParty, type LoginFailureReason } from '../../services/audit.js';
import { RateLimiter } from '../../services/rate-limit.js';
import { auditSource } from '../audit-source.js';
import type { AppContext } from '../context.js';
import { clientIp } from '../request.js';
import { redirect } from '../respond.js';
import { finishLogin } from './finish-login.js';
import type { LoginControlInput, LoginMethod } from './method.js';
import { renderLoginPage } from './page.js';

export { START_LIMIT };

export interface OidcMethodDeps {
  config: Config;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Outbound HTTP towards the provider (openid-client's customFetch); global fetch by default. */
  fetch?: OidcClientOptions['fetch'];
}

/** What makes one OIDC-based method (generic OIDC, Google) itself. */
export interface OidcMethodOptions {
  id: LoginMethodId;
  /** Path under the prefix: also the redirect URI's last segment (`/oidc`, `/google`). */
  path: string;
  /** "Company SSO", "Google": used in the button and in every message. */
  displayName: string;
  issuer: string;
  clientId: string;
  clientSecret: string | null;
  scopes: readonly string[];
  pkce: boolean;
  /** Claim whose values become the user's groups; null when the provider has none. */
  groupsClaim: string | null;
  /** Extra authorization request parameters (Google's `hd`). */
  authorizationParams?: Readonly<Record<string, string>>;
  /** A method's own refusal after the common checks (Google's hosted domains), or null. */
  checkClaims?: (claims: VerifiedClaims) => string | null;
  /** `link_by_email`: see `AccountSettings.linkByEmail`. */
  linkByEmail: boolean;
}

/** `<public_url>/auth/<strategy>`: where the provider sends the browser back. */
export function redirectUriFor(config: Config, path: string): string {
  const publicPath = config.publicUrl.pathname.replace(/\/+$/, '');
  return `${config.publicOrigin}${publicPath}${config.prefix}${path}`;
}

/** What the start and callback handlers of one method share, built once with the method. */
interface OidcHandlerDeps {
  options: OidcMethodOptions;
  redirectUri: string;
  flow: OidcFlow;
  limiter: RateLimiter;
  /** Claims to fetch from userinfo when the ID token lacks them. */
  wanted: readonly string[];
}

function bindingCookie(ctx: AppContext, value: string): string {
  return serializeCookie(BINDING_COOKIE, value, {
    secure: ctx.config.secureCookies,
    path: ctx.config.prefix,
    maxAgeSeconds: FLOW_TTL_MS / 1000,
    // Lax is what lets it come back on the provider's top-level redirect to the callback.
    sameSite: 'Lax',
  });
}

async function refuse(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  rd: string,
  refusal: Refusal,
): Promise<void> {
  await renderLoginPage(ctx, req, res, {
    status: refusal.status,
    rd: safeRedirect(rd, ctx.config.redirectPolicy),
    message: { kind: 'error', text: refusal.text },
  });
}

function recordFailure(
  ctx: AppContext,
  req: IncomingMessage,
  method: LoginMethodId,
  reason: LoginFailureReason,
  detail: string,
  actor: AuditParty = ANONYMOUS_ACTOR,
  subject: AuditParty | null = null,
): Promise<void> {
  return ctx.audit.record(
    { event: 'auth.login_failed', method, reason, detail: detail.slice(0, 200) },
    { actor, subject, source: auditSource(ctx, req) },
  );
}

/** Rate limit, then a new attempt: the binding cookie is set and the browser sent to the provider. */
async function startSignIn(
  deps: OidcHandlerDeps,
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const { options } = deps;
  const rd = safeRedirect(query.get('rd'), ctx.config.redirectPolicy);
  // Each start stores an attempt for ten minutes: a flood from one address must not fill the store.
  const limited = await deps.limiter.hit(START_LIMIT, clientIp(ctx, req));
  if (!limited.allowed) {
    await recordFailure(ctx, req, options.id, 'rate_limited', 'start');
    const seconds = Math.ceil(limited.retryAfterMs / 1000);
    await renderLoginPage(ctx, req, res, {
      status: 429,
      rd,
      headers: ['Retry-After', String(seconds)],
      message: { kind: 'error', text: startLimitedText(seconds) },
    });
    return;
  }
  try {
    const { url, binding } = await deps.flow.start(
      rd,
      readCookie(req.headers.cookie, BINDING_COOKIE),
      options.authorizationParams,
    );
    redirect(res, 302, url.href, ['Set-Cookie', bindingCookie(ctx, binding)]);
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    ctx.logger.warn({ method: options.id, detail: error.message }, 'OIDC start failed');
    await recordFailure(ctx, req, options.id, 'provider_error', `start: ${error.failure.kind}`);
    await refuse(ctx, req, res, rd, failureMessage(options.displayName, error.failure));
  }
}

/** The redirect URI: finish the attempt, decide on the account, then sign in or refuse. */
async function handleCallback(
  deps: OidcHandlerDeps,
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const { options } = deps;
  const url = new URL(deps.redirectUri);
  url.search = query.toString();
  const binding = readCookie(req.headers.cookie, BINDING_COOKIE);
  const result = await deps.flow.finish(query, url, binding, deps.wanted);
  if (!result.ok) {
    await refuseFlow(options, ctx, req, res, result.failure, result.rd);
    return;
  }
  const { claims, rd } = result;
  const outcome = await signInWithClaims(
    ctx.store,
    ctx.clock,
    {
      account: {
        signup: ctx.config.raw.auth.signup,
        allowedDomains: ctx.config.raw.auth.allowed_domains,
        linkByEmail: options.linkByEmail,
      },
      groupsClaim: options.groupsClaim,
      checkClaims: options.checkClaims,
    },
    claims,
  );
  if (!outcome.ok) {
    await refuseClaims(options, ctx, req, res, claims, outcome, rd);
    return;
  }
  if (outcome.created || outcome.linked) {
    ctx.logger.info(
      {
        method: options.id,
        user: outcome.user.id,
        created: outcome.created,
        issuer: claims.issuer,
      },
      'provider identity linked',
    );
  }
  // Other sessions of this user must see new groups now, not after their cache entry ages out.
  if (outcome.groups !== null) await ctx.sessions.refreshUser(outcome.user.id);
  await finishLogin(ctx, req, res, outcome.user, options.id, rd);
}

async function refuseFlow(
  options: OidcMethodOptions,
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  failure: FlowFailure,
  rd: string,
): Promise<void> {
  ctx.logger.info(
    { method: options.id, failure: failure.kind, detail: failureDetail(failure) },
    'OIDC sign-in failed',
  );
  await recordFailure(ctx, req, options.id, 'provider_error', failure.kind);
  await refuse(ctx, req, res, rd, failureMessage(options.displayName, failure));
}

async function refuseClaims(
  options: OidcMethodOptions,
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  claims: VerifiedClaims,
  outcome: Extract<SignInOutcome, { ok: false }>,
  rd: string,
): Promise<void> {
  const who = { id: null, label: claims.email };
  if (outcome.by === 'method') {
    ctx.logger.info(
      { method: options.id, failure: 'claims', detail: outcome.text },
      'OIDC sign-in refused',
    );
    await recordFailure(ctx, req, options.id, 'refused', 'claims', who, who);
    await refuse(ctx, req, res, rd, { status: 403, text: outcome.text });
    return;
  }
  ctx.logger.info(
    { method: options.id, failure: outcome.reason, issuer: claims.issuer },
    'OIDC sign-in refused',
  );
  // The account the address names, if any, gets the refusal in its trail: a refused link
  // (`link_not_trusted`, `identity_conflict`) is someone else's identity at the door.
  const account = await ctx.store.getUserByEmail(claims.email).catch(() => null);
  await recordFailure(ctx, req, options.id, 'refused', outcome.reason, who, account);
  const message = refusalMessage(options.displayName, outcome.reason, claims.email);
  await refuse(ctx, req, res, rd, message);
}

function createClient(
  deps: OidcMethodDeps,
  options: OidcMethodOptions,
  redirectUri: string,
): OidcClient {
  const client = new OidcClient(
    {
      issuer: options.issuer,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      redirectUri,
      scopes: options.scopes,
      pkce: options.pkce,
    },
    { clock: deps.clock, ...(deps.fetch ? { fetch: deps.fetch } : {}) },
  );
  if (client.insecureRemote) {
    deps.logger.warn(
      { method: options.id, issuer: options.issuer },
      'the OIDC issuer is plain http on a non-loopback host: tokens cross the network unencrypted',
    );
  }
  return client;
}

/**
 * A login method on top of an OpenID Provider. `GET <prefix><path>` both starts the flow (with
 * `rd`) and is the redirect URI (with `code`/`state` or `error`): the URL users register is the
 * one the cohere-toolkit convention names, `/auth/<strategy>`.
 */
export function createOidcLoginMethod(
  deps: OidcMethodDeps,
  options: OidcMethodOptions,
): LoginMethod {
  const redirectUri = redirectUriFor(deps.config, options.path);
  const client = createClient(deps, options, redirectUri);
  const handlers: OidcHandlerDeps = {
    options,
    redirectUri,
    flow: new OidcFlow(options.id, client, deps.store, deps.clock),
    limiter: new RateLimiter(deps.store, deps.clock),
    wanted: wantedClaims(options.groupsClaim),
  };
  const name = options.displayName;
  return {
    id: options.id,
    label: name,
    renderControl: (
      input: LoginControlInput,
    ) => html`<form method="get" action="${input.prefix}${options.path}" class="method method-${options.id}">
<input type="hidden" name="rd" value="${input.rd}">
<button type="submit">Sign in with ${name}</button>
</form>`,
    routes: [
      {
        path: options.path,
        GET: async (ctx, req, res, query) => {
          const isCallback = query.has('code') || query.has('state') || query.has('error');
          await (isCallback ? handleCallback : startSignIn)(handlers, ctx, req, res, query);
        },
      },
    ],
  };
}
/** `auth.oidc`: any OpenID Provider (Okta, Entra ID, Keycloak, Authentik, Dex, …). */
export function createOidcMethod(deps: OidcMethodDeps): LoginMethod {
  const settings = deps.config.raw.auth.oidc;
  if (!settings.issuer || !settings.client_id) {
    // check-config refuses this when oidc is enabled; reaching here is a programming error.
    throw new Error('auth.oidc.issuer and auth.oidc.client_id are required');
  }
  return createOidcLoginMethod(deps, {
    id: 'oidc',
    path: '/oidc',
    displayName: settings.display_name ?? 'single sign-on',
    issuer: settings.issuer,
    clientId: settings.client_id,
    clientSecret: settings.client_secret ?? null,
    scopes: settings.scopes,
    pkce: settings.pkce,
    groupsClaim: settings.groups_claim,
    linkByEmail: settings.link_by_email,
  });
}
