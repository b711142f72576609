import type { IncomingMessage, ServerResponse } from 'node:http';
import { PortcullisError } from '../../core/errors.js';
import { explain, subjectFromUser } from '../../core/explain.js';
import { parseAbsoluteTarget } from '../../core/target.js';
import { page } from '../../html.js';
import { describeDuration } from '../../mail/describe-duration.js';
import type { User } from '../../ports/store.js';
import { type AdminOutcome, isBulkAction } from '../../services/admin.js';
import { auditSource } from '../audit-source.js';
import { readForm } from '../body.js';
import type { AppContext } from '../context.js';
import { csrfToken, requireCsrfToken } from '../csrf.js';
import { logoUrl, stylesheetUrl } from '../pages.js';
import { redirect, sendHtml, sendJson, wantsJson } from '../respond.js';
import { type AdminExplain, adminPageBody } from '../views/admin-page.js';
import { currentSession } from './session-routes.js';

/**
 * The signed-in admin, or null after answering: no session → the login page with rd back here
 * (401 JSON for API clients); a session but not an admin → 403.
 */
async function requireAdmin(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<User | null> {
  const lookup = await currentSession(ctx, req);
  if (lookup?.kind !== 'valid') {
    const login = `${ctx.config.prefix}/login?rd=${encodeURIComponent(`${ctx.baseUrl}/admin`)}`;
    if (wantsJson(req)) sendJson(req, res, 401, { error: 'unauthenticated', login_url: login });
    else redirect(res, 303, login);
    return null;
  }
  const { user } = lookup.live;
  if (!ctx.users.isAdmin(user)) {
    throw new PortcullisError(
      'forbidden',
      `admin panel refused to ${user.email}`,
      'Only administrators can open the admin panel. Ask one to make you an admin.',
    );
  }
  return user;
}

interface ViewState {
  search: string;
  page: number;
  userId: string | null;
  /** "Explain access" on a user's page: the URL and method asked about. */
  explain?: { url: string; method: string } | null;
}

/** The same explanation as `portcullis explain`, for the user on the page. */
function explainFor(
  ctx: AppContext,
  user: User,
  asked: { url: string; method: string },
): AdminExplain {
  const method = asked.method.toUpperCase();
  if (!/^[A-Z]{0,16}$/.test(method)) {
    return { ...asked, error: 'That is not an HTTP method.' };
  }
  const parsed = parseAbsoluteTarget(asked.url, method);
  if (!parsed.ok) {
    return {
      ...asked,
      error: `A check would refuse this URL (${parsed.reason}): use a full http:// or https:// URL.`,
    };
  }
  const subject = subjectFromUser(user.email, user);
  return {
    ...asked,
    result: explain(
      ctx.policy,
      ctx.config.raw.access.rules,
      parsed.target,
      subject,
      ctx.anonymousUser,
    ),
  };
}

async function renderAdmin(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  actor: User,
  state: ViewState,
  outcome: AdminOutcome | null,
): Promise<void> {
  const csrf = csrfToken(ctx, req);
  const detail = state.userId ? await ctx.admin.userDetail(state.userId) : null;
  const list = state.userId ? null : await ctx.admin.listUsers(state.search, state.page);
  const explained =
    detail && state.explain ? explainFor(ctx, detail.row.user, state.explain) : null;
  const body = adminPageBody({
    prefix: ctx.config.prefix,
    csrf: csrf.token,
    actor: actor.email,
    search: state.search,
    outcome,
    ttl: describeDuration(ctx.config.raw.auth.magic_link.ttl),
    list,
    detail,
    explain: explained,
    passwords: ctx.config.raw.auth.enabled_auth.includes('basic'),
  });
  sendHtml(
    req,
    res,
    200,
    page({
      title: 'Admin panel',
      productName: ctx.productName,
      stylesheet: stylesheetUrl(ctx),
      logoUrl: logoUrl(ctx),
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
    explain: params.has('explain_url')
      ? {
          url: (params.get('explain_url') ?? '').trim().slice(0, 8192),
          method: (params.get('explain_method') ?? '').slice(0, 16),
        }
      : null,
  };
}

/** GET /auth/admin[?q=&page=|?user=ID] */
export async function handleAdminPage(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const actor = await requireAdmin(ctx, req, res);
  if (!actor) return;
  await renderAdmin(ctx, req, res, actor, stateFrom(query), null);
}

/**
 * POST /auth/admin — one change, then the panel again with its result on top. The page is
 * answered directly rather than redirected so a login URL never travels in a URL or a log.
 */
export async function handleAdminAction(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = await readForm(req);
  requireCsrfToken(ctx, req, form);
  const actor = await requireAdmin(ctx, req, res);
  if (!actor) return;
  const action = form.get('action') ?? '';
  const view = form.get('view');
  const state: ViewState = {
    search: (form.get('q') ?? '').slice(0, 200),
    page: Number.parseInt(form.get('page') ?? '1', 10) || 1,
    userId: view || null,
  };
  const source = auditSource(ctx, req);
  let outcome: AdminOutcome;
  if (action === 'add_user') {
    outcome = await ctx.admin.addUser(
      actor,
      form.get('email') ?? '',
      form.get('name') ?? '',
      source,
    );
  } else if (action === 'set_password') {
    outcome = await ctx.admin.setPassword(
      actor,
      form.get('user') ?? '',
      form.get('password') ?? '',
      ctx.config.raw.auth.basic.users,
      source,
    );
  } else if (action === 'end_session') {
    outcome = await ctx.admin.endSession(
      actor,
      form.get('user') ?? '',
      form.get('session') ?? '',
      source,
    );
  } else if (isBulkAction(action)) {
    outcome = await ctx.admin.bulk(actor, action, form.getAll('user'), source);
  } else {
    throw new PortcullisError('bad_request', `unknown admin action ${action.slice(0, 40)}`);
  }
  await renderAdmin(ctx, req, res, actor, state, outcome);
}
