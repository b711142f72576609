import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import type { Clock } from '../../core/clock.js';
import { readCookie, serializeCookie } from '../../core/cookies.js';
import { safeRedirect } from '../../core/redirect.js';
import { html } from '../../html.js';
import type { LoginMethodId } from '../../login/method-id.js';
import { type AccountRefusal, readGroupsClaim, resolveAccount } from '../../login/oidc-account.js';
import { OidcClient, type OidcClientOptions, ProviderError } from '../../login/oidc-client.js';
import {
  BINDING_COOKIE,
  FLOW_TTL_MS,
  type FlowFailure,
  OidcFlow,
  type VerifiedClaims,
} from '../../login/oidc-flow.js';
import type { Store } from '../../ports/store.js';
import { ANONYMOUS_ACTOR, type AuditParty, type LoginFailureReason } from '../../services/audit.js';
import { RateLimiter, type RateLimitRule } from '../../services/rate-limit.js';
import { auditSource } from '../audit-source.js';
import type { AppContext } from '../context.js';
import { clientIp } from '../request.js';
import { redirect } from '../respond.js';
import { finishLogin } from './finish-login.js';
import type { LoginControlInput, LoginMethod } from './method.js';
import { renderLoginPage } from './page.js';

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

/** Sign-in starts per client address and minute, per method. */
export const START_LIMIT: RateLimitRule = { name: 'oidc:start', limit: 30, windowMs: 60_000 };

/** `<public_url>/auth/<strategy>`: where the provider sends the browser back. */
export function redirectUriFor(config: Config, path: string): string {
  const publicPath = config.publicUrl.pathname.replace(/\/+$/, '');
  return `${config.publicOrigin}${publicPath}${config.prefix}${path}`;
}

interface Refusal {
  status: number;
  text: string;
}

function failureMessage(name: string, failure: FlowFailure): Refusal {
  switch (failure.kind) {
    case 'provider_error':
      if (failure.code === 'access_denied')
        return {
          status: 403,
          text: `Sign-in with ${name} was cancelled or refused. Try again, or use another way below.`,
        };
      return {
        status: 502,
        text: `${name} could not sign you in (it answered “${/^[a-z_]{1,64}$/.test(failure.code) ? failure.code : 'error'}”). Try again; if it keeps happening, tell your administrator.`,
      };
    case 'unreachable':
      return {
        status: 502,
        text: `We could not reach ${name} just now. Try again in a moment; if it keeps happening, tell your administrator.`,
      };
    case 'rejected':
      return {
        status: 400,
        text: `The answer from ${name} did not pass our checks, so you are not signed in. Start again below.`,
      };
    case 'expired':
      return {
        status: 400,
        text: 'This sign-in attempt expired, was already used, or was started in another browser. Start again below.',
      };
    case 'email_unverified':
      return {
        status: 403,
        text: `${name} has not verified your email address, so it cannot sign you in here. Verify it at ${name}, or use another way below.`,
      };
    case 'no_email':
      return {
        status: 403,
        text: `${name} did not give us a usable email address, so we cannot tell who you are. Ask your administrator to release the email claim.`,
      };
  }
}

function refusalMessage(name: string, reason: AccountRefusal, email: string): Refusal {
  switch (reason) {
    case 'deactivated':
      return { status: 403, text: 'This account is deactivated. Ask an administrator.' };
    case 'not_invited':
      return {
        status: 403,
        text: `There is no account for ${email} here, and new accounts need an invitation. Ask an administrator.`,
      };
    case 'domain_not_allowed':
      return {
        status: 403,
        text: `Addresses at ${email.slice(email.indexOf('@') + 1)} cannot sign up here. Ask an administrator for an invitation.`,
      };
    case 'email_taken':
      return {
        status: 409,
        text: `${name} now gives your address as ${email}, but another account here has it. Ask an administrator to sort the two accounts out.`,
      };
    case 'identity_conflict':
      return {
        status: 409,
        text: `The account for ${email} here belongs to a different ${name} account, so this one cannot sign in to it. Sign in with the ${name} account you used before, or ask an administrator.`,
      };
    case 'link_not_trusted':
      return {
        status: 409,
        text: `An account for ${email} exists here already, and ${name} is not set up to sign in to existing accounts. Sign in the way you did before, or ask an administrator.`,
      };
  }
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
  const flow = new OidcFlow(options.id, client, deps.store, deps.clock);
  const limiter = new RateLimiter(deps.store, deps.clock);
  const name = options.displayName;
  const wanted =
    options.groupsClaim && !options.groupsClaim.includes('.') ? [options.groupsClaim] : [];

  const bindingCookie = (ctx: AppContext, value: string) =>
    serializeCookie(BINDING_COOKIE, value, {
      secure: ctx.config.secureCookies,
      path: ctx.config.prefix,
      maxAgeSeconds: FLOW_TTL_MS / 1000,
      // Lax is what lets it come back on the provider's top-level redirect to the callback.
      sameSite: 'Lax',
    });

  const refuse = async (
    ctx: AppContext,
    req: IncomingMessage,
    res: ServerResponse,
    rd: string,
    refusal: Refusal,
  ) => {
    await renderLoginPage(ctx, req, res, {
      status: refusal.status,
      rd: safeRedirect(rd, ctx.config.redirectPolicy),
      message: { kind: 'error', text: refusal.text },
    });
  };

  const failed = (
    ctx: AppContext,
    req: IncomingMessage,
    reason: LoginFailureReason,
    detail: string,
    actor: AuditParty = ANONYMOUS_ACTOR,
    subject: AuditParty | null = null,
  ) =>
    ctx.audit.record(
      { event: 'auth.login_failed', method: options.id, reason, detail: detail.slice(0, 200) },
      { actor, subject, source: auditSource(ctx, req) },
    );

  const start = async (
    ctx: AppContext,
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
  ) => {
    const rd = safeRedirect(query.get('rd'), ctx.config.redirectPolicy);
    // Each start stores an attempt for ten minutes: a flood from one address must not fill the store.
    const limited = await limiter.hit(START_LIMIT, clientIp(ctx, req));
    if (!limited.allowed) {
      await failed(ctx, req, 'rate_limited', 'start');
      const seconds = Math.ceil(limited.retryAfterMs / 1000);
      await renderLoginPage(ctx, req, res, {
        status: 429,
        rd,
        headers: ['Retry-After', String(seconds)],
        message: {
          kind: 'error',
          text: `Too many sign-in attempts from your network. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`,
        },
      });
      return;
    }
    try {
      const { url, binding } = await flow.start(
        rd,
        readCookie(req.headers.cookie, BINDING_COOKIE),
        options.authorizationParams,
      );
      redirect(res, 302, url.href, ['Set-Cookie', bindingCookie(ctx, binding)]);
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      ctx.logger.warn({ method: options.id, detail: error.message }, 'OIDC start failed');
      await failed(ctx, req, 'provider_error', `start: ${error.failure.kind}`);
      await refuse(ctx, req, res, rd, failureMessage(name, error.failure));
    }
  };

  const callback = async (
    ctx: AppContext,
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
  ) => {
    const url = new URL(redirectUri);
    url.search = query.toString();
    const result = await flow.finish(
      query,
      url,
      readCookie(req.headers.cookie, BINDING_COOKIE),
      wanted,
    );
    if (!result.ok) {
      const { failure } = result;
      ctx.logger.info(
        {
          method: options.id,
          failure: failure.kind,
          detail: 'detail' in failure ? failure.detail : 'code' in failure ? failure.code : null,
        },
        'OIDC sign-in failed',
      );
      await failed(ctx, req, 'provider_error', failure.kind);
      await refuse(ctx, req, res, result.rd, failureMessage(name, failure));
      return;
    }
    const { claims, rd } = result;
    const own = options.checkClaims?.(claims) ?? null;
    if (own !== null) {
      ctx.logger.info(
        { method: options.id, failure: 'claims', detail: own },
        'OIDC sign-in refused',
      );
      const who = { id: null, label: claims.email };
      await failed(ctx, req, 'refused', 'claims', who, who);
      await refuse(ctx, req, res, rd, { status: 403, text: own });
      return;
    }
    const groups = options.groupsClaim
      ? (readGroupsClaim(claims.raw, options.groupsClaim) ?? [])
      : null;
    const outcome = await resolveAccount(
      ctx.store,
      ctx.clock,
      {
        signup: ctx.config.raw.auth.signup,
        allowedDomains: ctx.config.raw.auth.allowed_domains,
        linkByEmail: options.linkByEmail,
      },
      claims,
      groups,
    );
    if (!outcome.ok) {
      ctx.logger.info(
        { method: options.id, failure: outcome.reason, issuer: claims.issuer },
        'OIDC sign-in refused',
      );
      // The account the address names, if any, gets the refusal in its trail: a refused link
      // (`link_not_trusted`, `identity_conflict`) is someone else's identity at the door.
      const account = await ctx.store.getUserByEmail(claims.email).catch(() => null);
      await failed(ctx, req, 'refused', outcome.reason, { id: null, label: claims.email }, account);
      await refuse(ctx, req, res, rd, refusalMessage(name, outcome.reason, claims.email));
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
    if (groups !== null) await ctx.sessions.refreshUser(outcome.user.id);
    await finishLogin(ctx, req, res, outcome.user, options.id, rd);
  };

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
          await (isCallback ? callback : start)(ctx, req, res, query);
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
