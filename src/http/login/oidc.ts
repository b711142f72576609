import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { readCookie, serializeCookie } from '../../core/cookies.js';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import { html } from '../../html.js';
import type { LoginMethodId } from '../../login/method-id.js';
import { ProviderError } from '../../login/oidc-client.js';
import {
  BINDING_COOKIE,
  FLOW_TTL_MS,
  type FlowFailure,
  type OidcFlow,
  type VerifiedClaims,
} from '../../login/oidc-flow.js';
import {
  failureDetail,
  failureMessage,
  type Refusal,
  refusalMessage,
  startLimitedText,
} from '../../login/oidc-messages.js';
import { type SignInOutcome, START_LIMIT, wantedClaims } from '../../login/oidc-signin.js';
import type { Store } from '../../ports/store.js';
import {
  ANONYMOUS_ACTOR,
  type AuditLog,
  type AuditParty,
  type LoginFailureReason,
} from '../../services/audit.js';
import type { RateLimiter } from '../../services/rate-limit.js';
import type { SessionService } from '../../services/sessions.js';
import { auditSource } from '../audit-source.js';
import type { TrustedProxies } from '../request.js';
import { redirect } from '../respond.js';
import type { FinishLogin } from './finish-login.js';
import type { LoginControlInput, LoginMethod } from './method.js';
import type { RenderLoginPage } from './page.js';

export { START_LIMIT };

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

/** What one OIDC-based method's routes use; the client, flow and limiter are built in app.ts. */
export interface OidcMethodDeps {
  options: OidcMethodOptions;
  /** `<public_url>/auth/<strategy>`: where the provider sends the browser back. */
  redirectUri: string;
  flow: Pick<OidcFlow, 'start' | 'finish'>;
  /** Sign-in starts per client address (`START_LIMIT`). */
  limiter: Pick<RateLimiter, 'hit'>;
  /** Verified claims to an account: `signInWithClaims` with this method's rules. */
  signIn(claims: VerifiedClaims): Promise<SignInOutcome>;
  /** Finds the account a refused address names, for its trail. */
  accounts: Pick<Store, 'getUserByEmail'>;
  sessions: Pick<SessionService, 'refreshUser'>;
  audit: Pick<AuditLog, 'record'>;
  logger: Logger;
  proxies: TrustedProxies;
  redirectPolicy: RedirectPolicy;
  /** Whether `public_url` is https: the binding cookie's `Secure`. */
  secureCookies: boolean;
  /** `server.path_prefix`: the binding cookie's Path. */
  prefix: string;
  loginPage: RenderLoginPage;
  finish: FinishLogin;
}

/**
 * The start and callback of one method. `GET <prefix><path>` both starts the flow (with `rd`)
 * and is the redirect URI (with `code`/`state` or `error`).
 */
class OidcRoutes {
  private readonly options: OidcMethodOptions;
  /** Claims to fetch from userinfo when the ID token lacks them. */
  private readonly wanted: readonly string[];

  constructor(private readonly deps: OidcMethodDeps) {
    this.options = deps.options;
    this.wanted = wantedClaims(deps.options.groupsClaim);
  }

  /** Rate limit, then a new attempt: the binding cookie is set and the browser sent to the provider. */
  async start(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const { deps, options } = this;
    const rd = safeRedirect(query.get('rd'), deps.redirectPolicy);
    // Each start stores an attempt for ten minutes: a flood from one address must not fill the store.
    const limited = await deps.limiter.hit(START_LIMIT, deps.proxies.clientIp(req));
    if (!limited.allowed) {
      await this.recordFailure(req, 'rate_limited', 'start');
      const seconds = Math.ceil(limited.retryAfterMs / 1000);
      await deps.loginPage(req, res, {
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
      redirect(res, 302, url.href, ['Set-Cookie', this.bindingCookie(binding)]);
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      deps.logger.warn({ method: options.id, detail: error.message }, 'OIDC start failed');
      await this.recordFailure(req, 'provider_error', `start: ${error.failure.kind}`);
      await this.refuse(req, res, rd, failureMessage(options.displayName, error.failure));
    }
  }

  /** The redirect URI: finish the attempt, decide on the account, then sign in or refuse. */
  async callback(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const { deps, options } = this;
    const url = new URL(deps.redirectUri);
    url.search = query.toString();
    const binding = readCookie(req.headers.cookie, BINDING_COOKIE);
    const result = await deps.flow.finish(query, url, binding, this.wanted);
    if (!result.ok) {
      await this.refuseFlow(req, res, result.failure, result.rd);
      return;
    }
    const { claims, rd } = result;
    const outcome = await deps.signIn(claims);
    if (!outcome.ok) {
      await this.refuseClaims(req, res, claims, outcome, rd);
      return;
    }
    if (outcome.created || outcome.linked) {
      deps.logger.info(
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
    if (outcome.groups !== null) await deps.sessions.refreshUser(outcome.user.id);
    await deps.finish(req, res, outcome.user, options.id, rd);
  }

  private bindingCookie(value: string): string {
    return serializeCookie(BINDING_COOKIE, value, {
      secure: this.deps.secureCookies,
      path: this.deps.prefix,
      maxAgeSeconds: FLOW_TTL_MS / 1000,
      // Lax is what lets it come back on the provider's top-level redirect to the callback.
      sameSite: 'Lax',
    });
  }

  private async refuse(
    req: IncomingMessage,
    res: ServerResponse,
    rd: string,
    refusal: Refusal,
  ): Promise<void> {
    await this.deps.loginPage(req, res, {
      status: refusal.status,
      rd: safeRedirect(rd, this.deps.redirectPolicy),
      message: { kind: 'error', text: refusal.text },
    });
  }

  private recordFailure(
    req: IncomingMessage,
    reason: LoginFailureReason,
    detail: string,
    actor: AuditParty = ANONYMOUS_ACTOR,
    subject: AuditParty | null = null,
  ): Promise<void> {
    return this.deps.audit.record(
      {
        event: 'auth.login_failed',
        method: this.options.id,
        reason,
        detail: detail.slice(0, 200),
      },
      { actor, subject, source: auditSource(this.deps.proxies, req) },
    );
  }

  private async refuseFlow(
    req: IncomingMessage,
    res: ServerResponse,
    failure: FlowFailure,
    rd: string,
  ): Promise<void> {
    const { options } = this;
    this.deps.logger.info(
      { method: options.id, failure: failure.kind, detail: failureDetail(failure) },
      'OIDC sign-in failed',
    );
    await this.recordFailure(req, 'provider_error', failure.kind);
    await this.refuse(req, res, rd, failureMessage(options.displayName, failure));
  }

  private async refuseClaims(
    req: IncomingMessage,
    res: ServerResponse,
    claims: VerifiedClaims,
    outcome: Extract<SignInOutcome, { ok: false }>,
    rd: string,
  ): Promise<void> {
    const { deps, options } = this;
    const who = { id: null, label: claims.email };
    if (outcome.by === 'method') {
      deps.logger.info(
        { method: options.id, failure: 'claims', detail: outcome.text },
        'OIDC sign-in refused',
      );
      await this.recordFailure(req, 'refused', 'claims', who, who);
      await this.refuse(req, res, rd, { status: 403, text: outcome.text });
      return;
    }
    deps.logger.info(
      { method: options.id, failure: outcome.reason, issuer: claims.issuer },
      'OIDC sign-in refused',
    );
    // The account the address names, if any, gets the refusal in its trail: a refused link
    // (`link_not_trusted`, `identity_conflict`) is someone else's identity at the door.
    const account = await deps.accounts.getUserByEmail(claims.email).catch(() => null);
    await this.recordFailure(req, 'refused', outcome.reason, who, account);
    const message = refusalMessage(options.displayName, outcome.reason, claims.email);
    await this.refuse(req, res, rd, message);
  }
}

/**
 * A login method on top of an OpenID Provider. `GET <prefix><path>` both starts the flow (with
 * `rd`) and is the redirect URI (with `code`/`state` or `error`): the URL users register is the
 * one the cohere-toolkit convention names, `/auth/<strategy>`.
 */
export function createOidcLoginMethod(deps: OidcMethodDeps): LoginMethod {
  const { options } = deps;
  const routes = new OidcRoutes(deps);
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
        GET: (req, res, query) => {
          const isCallback = query.has('code') || query.has('state') || query.has('error');
          return isCallback ? routes.callback(req, res, query) : routes.start(req, res, query);
        },
      },
    ],
  };
}
