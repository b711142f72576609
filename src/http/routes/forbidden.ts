import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessPolicy, Decision } from '../../core/decide.js';
import type { Identity } from '../../core/identity.js';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import { parseAbsoluteTarget, type Target, targetUrl } from '../../core/target.js';
import { page } from '../../html.js';
import type { Lookup } from '../../services/sessions.js';
import type { Csrf } from '../csrf.js';
import type { Handler } from '../handler.js';
import type { PageChrome } from '../problem.js';
import { firstValue, type TrustedProxies } from '../request.js';
import { pageHeaders, sendBody, sendEmpty, wantsJson } from '../respond.js';
import { FORBIDDEN_TITLE, type ForbiddenView, forbiddenPageBody } from '../views/forbidden-page.js';
import { currentSession, type SessionReader } from './session-routes.js';

/** A `deny` decision: the user is known, the rules say no. */
export type Denial = Extract<Decision, { kind: 'deny' }>;

export interface ForbiddenDeps {
  chrome: PageChrome;
  csrf: Pick<Csrf, 'token'>;
  /** Public base of portcullis' pages (origin + path prefix). */
  baseUrl: string;
  /** `public_url`'s origin: the page's stylesheet and logo come from there (CSP). */
  publicOrigin: string;
  /** The compiled rules, for naming the group a denied rule asks for. */
  policy: AccessPolicy;
  redirectPolicy: RedirectPolicy;
  /** `GET /forbidden` reads the session itself. */
  session: SessionReader;
  /** The decision for a target and a session lookup (`CheckPipeline.decision`). */
  decide(target: Target, lookup: Lookup | null): Decision;
  /** `X-Original-URL` names the refused page only from these (nginx's `error_page` location). */
  proxies: Pick<TrustedProxies, 'isTrusted'>;
}

const MESSAGE = 'You are signed in, but this account may not open this page.';
const PLAIN_MESSAGE = 'You are not allowed to open this page.';

/**
 * The groups whose membership would have opened the page, when lacking them is why `denial`
 * says no. Only the group names leave: no rule index, path or other condition, and nothing when
 * the rule refused for another reason (e-mail, domain, `policy: deny`, a token's scope).
 */
export function neededGroups(policy: AccessPolicy, denial: Denial): readonly string[] | null {
  if (denial.reason !== 'identity not allowed by rule') return null;
  const rule = policy.rules.find((candidate) => candidate.index === denial.rule);
  const groups = rule?.groups;
  if (!groups || groups.length === 0) return null;
  if (groups.some((group) => denial.identity.groups.includes(group))) return null;
  return groups;
}

/**
 * The 403 a person sees when signed in but refused (issue 15): from the forward-auth checks
 * (Traefik and Caddy show our body), the reverse proxy, and `GET <prefix>/forbidden`, which
 * nginx's `error_page 403 = @portcullis_403` serves because nginx drops an `auth_request` body.
 * JSON for API clients (with the account's own e-mail), no body for HEAD.
 */
export class ForbiddenPages {
  /** `GET <prefix>/forbidden[?rd=URL]`: always 403. */
  readonly route: Handler;
  private readonly csp: string;

  constructor(private readonly deps: ForbiddenDeps) {
    const origin = deps.publicOrigin;
    this.csp = `default-src 'none'; style-src 'self' ${origin}; img-src 'self' data: ${origin}; frame-ancestors 'none'; base-uri 'none'`;
    this.route = (req, res, query) => this.serve(req, res, query);
  }

  /**
   * A check's or the proxy's `deny`. `viaSession`: the identity came from the session cookie
   * (not an app token), so the sign-out forms apply.
   */
  send(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    denial: Denial,
    viaSession: boolean,
  ): void {
    if (req.method === 'HEAD' || target.method === 'HEAD') {
      sendEmpty(res, 403, ['Cache-Control', 'no-store']);
      return;
    }
    const identity = denial.identity.anonymous ? null : denial.identity;
    const shown = this.shownUrl(targetUrl(target));
    const who = viaSession ? identity : null;
    this.answer(req, res, identity, {
      base: this.deps.baseUrl,
      who: who === null ? null : { email: who.email, username: who.username },
      target: shown,
      groups: who === null ? null : neededGroups(this.deps.policy, denial),
      csrf: who === null ? '' : this.deps.csrf.token(req).token,
    });
  }

  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
  ): Promise<void> {
    const deps = this.deps;
    let rd = query.get('rd');
    if (rd === null && deps.proxies.isTrusted(req.socket.remoteAddress)) {
      rd = firstValue(req.headers['x-original-url']) ?? null;
    }
    const shown = this.shownUrl(rd);
    const lookup = await currentSession(deps.session, req);
    const live = lookup?.kind === 'valid' ? lookup.live : null;
    const identity = live === null || live.identity.anonymous ? null : live.identity;
    let groups: readonly string[] | null = null;
    if (identity !== null && shown !== null) {
      const parsed = parseAbsoluteTarget(shown, 'GET');
      const decision = parsed.ok ? deps.decide(parsed.target, lookup) : null;
      if (decision?.kind === 'deny') groups = neededGroups(deps.policy, decision);
    }
    this.answer(req, res, identity, {
      base: deps.baseUrl,
      who: identity === null ? null : { email: identity.email, username: identity.username },
      target: shown,
      groups,
      csrf: identity === null ? '' : deps.csrf.token(req).token,
    });
  }

  /** The refused URL when it is one of ours (shown, and the way back after signing in). */
  private shownUrl(url: string | null): string | null {
    if (url === null || url === '') return null;
    const safe = safeRedirect(url, this.deps.redirectPolicy);
    return safe === url ? safe : null;
  }

  private answer(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity | null,
    view: ForbiddenView,
  ): void {
    if (wantsJson(req)) {
      const body: Record<string, string> = {
        error: 'forbidden',
        message: identity === null ? PLAIN_MESSAGE : MESSAGE,
      };
      // The caller's own address: it sent the credential that names it.
      if (identity !== null) body.user = identity.email;
      sendBody(req, res, 403, 'application/json; charset=utf-8', JSON.stringify(body), [
        'Cache-Control',
        'no-store',
      ]);
      return;
    }
    const chrome = this.deps.chrome;
    const base = this.deps.baseUrl;
    const body = page({
      title: FORBIDDEN_TITLE,
      productName: chrome.productName,
      stylesheet: `${base}/static/style.css`,
      logoUrl: chrome.logoUrl === null ? null : `${base}/static/logo`,
      body: forbiddenPageBody(view),
    });
    sendBody(req, res, 403, 'text/html; charset=utf-8', body, pageHeaders(this.csp));
  }
}
