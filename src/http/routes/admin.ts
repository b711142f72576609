import type { IncomingMessage, ServerResponse } from 'node:http';
import { PortcullisError } from '../../core/errors.js';
import { page } from '../../html.js';
import { describeDuration } from '../../mail/describe-duration.js';
import type { Mailer } from '../../mail/mailer.js';
import { type AdminOutcome, type AdminService, isBulkAction } from '../../services/admin.js';
import type { StaticUser } from '../../services/passwords.js';
import type { LiveSession } from '../../services/sessions.js';
import type { UserService } from '../../services/users.js';
import { auditSource } from '../audit-source.js';
import { readForm } from '../body.js';
import type { Handler, PageDeps } from '../handler.js';
import { type RecentProof, stepUpUrl } from '../login/step-up-recent.js';
import { redirect, sendHtml, sendJson, wantsJson } from '../respond.js';
import type { BulkBack, BulkPlan } from '../views/admin-bulk.js';
import { adminPageBody } from '../views/admin-page.js';
import { isPanelAction, runPanelAction } from './admin-actions.js';
import { runBulk } from './admin-bulk.js';
import { type ExplainPolicy, explainFor } from './admin-explain.js';
import type { FactorDeps } from './admin-factor-actions.js';
import { type Extras, userPage } from './admin-user-page.js';
import { currentSession, type SessionReader } from './session-routes.js';

export interface AdminRouteDeps extends SessionReader, PageDeps {
  users: Pick<UserService, 'isAdmin'>;
  admin: Pick<
    AdminService,
    | 'userDetail'
    | 'listUsers'
    | 'addUser'
    | 'setPassword'
    | 'endSession'
    | 'bulk'
    | 'groups'
    | 'accounts'
    | 'findUser'
  >;
  /** Public base of portcullis' pages (origin + path prefix). */
  baseUrl: string;
  explain: ExplainPolicy;
  /** `auth.oidc.display_name`: how an `oidc` session's "Via" is named (default "Single sign-on"). */
  oidcName?: string;
  /** `auth.magic_link.ttl`, named on the page next to "hand out a login URL". */
  magicLinkTtlMs: number;
  /** Whether `basic` is enabled: the panel then offers to set passwords. */
  passwords: boolean;
  /** `auth.basic.users`: accounts defined in the config, whose passwords the panel cannot set. */
  staticUsers: readonly StaticUser[];
  /** `tokens.max_lifetime`: the longest expiry the panel offers for a new app token. */
  tokenMaxLifetimeMs: number;
  /** For "expired" in a user's tokens table. */
  now: () => number;
  /** A user's passkeys and TOTP: listed on their page, removable. */
  factors: FactorDeps;
  /** Why sign-in mail last failed on this instance (shown on the list), or null. */
  mailer?: Pick<Mailer, 'lastDeliveryFailure'>;
  /** Fresh proofs (step-up-recent.ts): every change outside TAKES_NO_PROOF asks for one first. */
  recent?: RecentProof | null;
}

/**
 * The panel's changes a stolen admin session may still make without a fresh proof: each only
 * takes something away (a session, a token, a membership, an account's use). Everything else
 * (login links, tokens, passwords, admin rights, groups, users, factors) needs a sign-in or
 * step-up in the last 15 minutes, or one stolen cookie becomes every account.
 */
const TAKES_NO_PROOF: ReadonlySet<string> = new Set([
  'end_session',
  'logout_everywhere',
  'deactivate',
  'revoke_token',
  'remove_member',
]);

const OTHER_ACTIONS: ReadonlySet<string> = new Set(['add_user', 'set_password', 'end_session']);

export interface AdminRoutes {
  /** GET /auth/admin[?q=&page=|?user=ID|?groups|?group=ID[&delete=1]] */
  page: Handler;
  /**
   * POST /auth/admin — one change, then the panel again with its result on top. The page is
   * answered directly rather than redirected so a login URL never travels in a URL or a log.
   */
  action: Handler;
}

/**
 * The signed-in admin's session, or null after answering: no session → the login page with rd
 * back here (401 JSON for API clients); a session but not an admin → 403.
 */
async function requireAdmin(
  deps: AdminRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<LiveSession | null> {
  const lookup = await currentSession(deps, req);
  if (lookup?.kind !== 'valid') {
    const login = `${deps.prefix}/login?rd=${encodeURIComponent(`${deps.baseUrl}/admin`)}`;
    if (wantsJson(req)) sendJson(req, res, 401, { error: 'unauthenticated', login_url: login });
    else redirect(res, 303, login);
    return null;
  }
  const { user } = lookup.live;
  if (!deps.users.isAdmin(user)) {
    throw new PortcullisError(
      'forbidden',
      `admin panel refused to ${user.email}`,
      'Only administrators can open the admin panel. Ask one to make you an admin.',
    );
  }
  return lookup.live;
}

interface ViewState {
  search: string;
  page: number;
  userId: string | null;
  /** "Explain access" on a user's page: the URL and method asked about. */
  explain?: { url: string; method: string } | null;
  /** The groups page. */
  groups?: boolean;
  /** One group's page; with `confirmDelete`, its "delete?" page. */
  groupId?: string | null;
  confirmDelete?: boolean;
  /** A bulk action waiting for "yes": what it would do to whom, and where "Cancel" goes. */
  bulk?: { plan: BulkPlan; back: BulkBack } | null;
}

async function renderAdmin(
  deps: AdminRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  actor: LiveSession,
  state: ViewState,
  outcome: AdminOutcome | null,
  extras: Extras = {},
): Promise<void> {
  const csrf = deps.csrf.token(req);
  const bulk = state.bulk ?? null;
  const user =
    state.userId && !bulk
      ? await userPage(deps, state.userId, extras, {
          currentSessionId: actor.session.id,
          oidcName: deps.oidcName ?? 'Single sign-on',
        })
      : null;
  const group = state.groupId
    ? await deps.admin.groups.groupDetail(state.groupId.slice(0, 200))
    : null;
  const groups = state.groups && !state.userId ? await deps.admin.groups.listGroups() : null;
  const list =
    state.userId || state.groupId || state.groups || bulk
      ? null
      : await deps.admin.listUsers(state.search, state.page);
  const explained =
    user && state.explain ? explainFor(deps.explain, user.detail.row.user, state.explain) : null;
  const body = adminPageBody({
    prefix: deps.prefix,
    csrf: csrf.token,
    actor: actor.user.email,
    actorId: actor.user.id,
    bulk,
    search: state.search,
    outcome,
    ttl: describeDuration(deps.magicLinkTtlMs),
    list,
    user,
    group: group ? { detail: group, confirmDelete: state.confirmDelete === true } : null,
    groups,
    explain: explained,
    formError: extras.formError ?? null,
    mailFailure: deps.mailer?.lastDeliveryFailure() ?? null,
  });
  sendHtml(
    req,
    res,
    200,
    page({
      title: 'Admin panel',
      productName: deps.chrome.productName,
      stylesheet: deps.chrome.stylesheet,
      logoUrl: deps.chrome.logoUrl,
      body,
      wide: true,
    }),
    csrf.setCookie ? ['Set-Cookie', csrf.setCookie] : [],
  );
}

function stateFrom(params: URLSearchParams): ViewState {
  return {
    search: (params.get('q') ?? '').slice(0, 200),
    page: Number.parseInt(params.get('page') ?? '1', 10) || 1,
    userId: params.get('user') || params.get('view') || null,
    groups: params.has('groups'),
    groupId: params.get('group') || null,
    confirmDelete: params.get('delete') === '1',
    explain: params.has('explain_url')
      ? {
          url: (params.get('explain_url') ?? '').trim().slice(0, 8192),
          method: (params.get('explain_method') ?? '').slice(0, 16),
        }
      : null,
  };
}

export function adminRoutes(deps: AdminRouteDeps): AdminRoutes {
  return {
    async page(req, res, query) {
      const actor = await requireAdmin(deps, req, res);
      if (!actor) return;
      await renderAdmin(deps, req, res, actor, stateFrom(query), null);
    },
    action: (req, res) => adminAction(deps, req, res),
  };
}

async function adminAction(
  deps: AdminRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = await readForm(req);
  deps.csrf.requireSessionToken(req, form);
  const live = await requireAdmin(deps, req, res);
  if (!live) return;
  const actor = live.user;
  const action = form.get('action') ?? '';
  const view = form.get('view');
  const known = isPanelAction(action) || isBulkAction(action) || OTHER_ACTIONS.has(action);
  if (!known)
    throw new PortcullisError('bad_request', `unknown admin action ${action.slice(0, 40)}`);
  if (!TAKES_NO_PROOF.has(action) && deps.recent && !(await deps.recent.isRecent(live.session))) {
    // Nothing changes; after the step-up the admin is back on the same page and asks again.
    const back = `${deps.prefix}/admin${view ? `?user=${encodeURIComponent(view.slice(0, 200))}` : ''}`;
    const stepUp = stepUpUrl(deps.prefix, back, 'recent');
    if (wantsJson(req)) sendJson(req, res, 403, { error: 'step_up_required', step_up: stepUp });
    else redirect(res, 303, stepUp);
    return;
  }
  const state: ViewState = {
    search: (form.get('q') ?? '').slice(0, 200),
    page: Number.parseInt(form.get('page') ?? '1', 10) || 1,
    userId: view || null,
  };
  const source = auditSource(deps.proxies, req);
  if (isPanelAction(action)) {
    const result = await runPanelAction(action, {
      admin: deps.admin,
      factors: deps.factors,
      actor,
      form,
      source,
      tokenMaxLifetimeMs: deps.tokenMaxLifetimeMs,
    });
    const { screen } = result;
    const next: ViewState = {
      ...state,
      userId: screen.kind === 'user' ? screen.userId : null,
      groups: screen.kind === 'groups',
      groupId: screen.kind === 'group' ? screen.groupId : null,
      confirmDelete: screen.kind === 'group' && screen.confirmDelete,
    };
    await renderAdmin(deps, req, res, live, next, result.outcome, {
      formError: result.formError,
      issuedToken: result.issuedToken,
      ...(screen.kind === 'user' && screen.confirm ? { confirm: screen.confirm } : {}),
    });
    return;
  }
  let outcome: AdminOutcome;
  if (action === 'add_user') {
    outcome = await deps.admin.addUser(
      actor,
      form.get('email') ?? '',
      form.get('name') ?? '',
      source,
    );
  } else if (action === 'set_password') {
    outcome = await deps.admin.setPassword(
      actor,
      form.get('user') ?? '',
      form.get('password') ?? '',
      deps.staticUsers,
      source,
    );
  } else if (action === 'end_session') {
    outcome = await deps.admin.endSession(
      actor,
      form.get('user') ?? '',
      form.get('session') ?? '',
      source,
    );
  } else if (isBulkAction(action)) {
    const step = await runBulk(deps.admin, actor, action, form, source, deps.now());
    if (step.kind === 'ask') {
      const back = { search: state.search, page: state.page, view: state.userId };
      await renderAdmin(deps, req, res, live, { ...state, bulk: { plan: step.plan, back } }, null);
      return;
    }
    outcome = step.outcome;
  } else {
    throw new PortcullisError('bad_request', `unknown admin action ${action.slice(0, 40)}`);
  }
  await renderAdmin(deps, req, res, live, state, outcome);
}
