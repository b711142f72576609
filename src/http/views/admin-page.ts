import type { Explanation } from '../../core/explain.js';
import { html, type SafeHtml } from '../../html.js';
import type { DeliveryFailure } from '../../mail/mailer.js';
import type { AdminOutcome, BulkAction, UserList } from '../../services/admin.js';
import type { GroupRow } from '../../services/admin-groups.js';
import { type BulkBack, type BulkPlan, bulkConfirmSection } from './admin-bulk.js';
import {
  addressHtml,
  adminCell,
  type FormError,
  groupsUrl,
  listUrl,
  type PanelContext,
  statusBadges,
  userUrl,
} from './admin-common.js';
import { type GroupPageView, groupSection, groupsSection } from './admin-groups.js';
import { type UserPageView, userSection } from './admin-user.js';
import { when } from './when.js';

export interface AdminPageView {
  prefix: string;
  csrf: string;
  actor: string;
  actorId: string;
  search: string;
  /** A bulk action waiting for confirmation: shown instead of anything else. */
  bulk?: { plan: BulkPlan; back: BulkBack } | null;
  outcome: AdminOutcome | null;
  ttl: string;
  /** What the page shows: the list, one user, the groups, one group. */
  list: UserList | null;
  user?: UserPageView | null;
  groups?: readonly GroupRow[] | null;
  group?: GroupPageView | null;
  /** "Explain access" asked on this user's page, with its answer or why it has none. */
  explain?: AdminExplain | null;
  /** A form field that was refused, shown under the field. */
  formError?: FormError | null;
  /** Why sign-in mail last failed here: the admin can act on it, the person asking cannot. */
  mailFailure?: DeliveryFailure | null;
}

/** "Sign-in email is failing: SMTP authentication failed (535), since …", or nothing. */
function mailFailureBlock(failure: DeliveryFailure | null | undefined): SafeHtml | '' {
  if (!failure) return '';
  if (failure.recoveredAt !== null) {
    return html`<p class="message info" role="status">Sign-in email failed at ${when(failure.at)} (${failure.reason}); it has worked again since ${when(failure.recoveredAt)}.</p>`;
  }
  return html`<p class="message error" role="alert"><strong>Sign-in email is not being sent</strong> (${failure.provider}): ${failure.reason}, last at ${when(failure.at)}. People asking for a link see only “could not send”; hand out links from here until it is fixed (<code>portcullis check-config --send-test EMAIL</code> tests it).</p>`;
}

export interface AdminExplain {
  url: string;
  method: string;
  result?: Explanation;
  error?: string;
}

const EXPLAIN_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

function explainResult(asked: AdminExplain): SafeHtml | '' {
  if (asked.error) return html`<p class="message error" role="alert">${asked.error}</p>`;
  const result = asked.result;
  if (!result) return '';
  return html`<dl id="explain-result" aria-live="polite">
<dt>Answer</dt><dd><strong class="badge${result.answer === 'allow' ? ' info' : result.answer === 'deny' ? ' off' : ''}">${result.answer}</strong> for ${result.method || 'a request whose method the proxy does not forward (the strictest any method gets)'} ${result.url}</dd>
<dt>Rule</dt><dd>${result.rule ? html`access.rules[${String(result.rule.index)}] <code>${result.rule.written}</code>` : 'none matched: access.default_policy'}</dd>
<dt>Why</dt><dd>${result.why.map((line) => html`<p>${line}</p>`)}</dd>
${
  result.perMethod.length > 0
    ? html`<dt>By method</dt><dd>${result.perMethod.map(
        (row) =>
          html`<p>${row.method}: ${row.answer} (${row.rule === -1 ? 'access.default_policy' : `access.rules[${row.rule}]`})</p>`,
      )}</dd>`
    : ''
}
</dl>`;
}

function explainSection(view: AdminPageView, userId: string): SafeHtml {
  const asked = view.explain ?? null;
  const method = asked?.method.toUpperCase() ?? '';
  return html`<h2>Explain access</h2>
<form method="get" action="${view.prefix}/admin" class="bar">
<input type="hidden" name="user" value="${userId}">
<div><label for="explain-url">URL</label>
<input id="explain-url" name="explain_url" type="url" required maxlength="8192" value="${asked?.url ?? ''}" placeholder="https://app.example.com/path"></div>
<div><label for="explain-method">Method</label>
<select id="explain-method" name="explain_method">
<option value=""${method === '' ? ' selected' : ''}>not forwarded</option>
${EXPLAIN_METHODS.map((m) => html`<option value="${m}"${m === method ? ' selected' : ''}>${m}</option>`)}
</select></div>
<button type="submit">Explain</button>
</form>
${asked ? explainResult(asked) : ''}`;
}

function outcomeBlock(view: AdminPageView): SafeHtml | '' {
  const outcome = view.outcome;
  if (!outcome) return '';
  return html`${
    outcome.links.length > 0
      ? html`<section class="issued" aria-labelledby="issued-heading">
<h2 id="issued-heading">Retrieved login URL${outcome.links.length > 1 ? 's' : ''}</h2>
<p class="muted">Send it to the person. It works once and expires in ${view.ttl}.</p>
${outcome.links.map(
  (link) => html`<p>For <strong>${link.email}</strong>:</p>
<code>${link.url}</code>`,
)}
</section>`
      : ''
  }
${outcome.notices.map(
  (n) =>
    html`<p class="message ${n.kind}" role="${n.kind === 'error' ? 'alert' : 'status'}">${n.text}</p>`,
)}`;
}

/** The list's menu; "…": the action shows who it changes and asks before it does anything. */
const MENU: readonly { id: BulkAction; label: string }[] = [
  { id: 'login_url', label: 'Get email login URL' },
  { id: 'activate', label: 'Reactivate' },
  { id: 'make_admin', label: 'Make admin' },
  { id: 'unmake_admin', label: 'Remove admin' },
  { id: 'logout_everywhere', label: 'Log out everywhere…' },
  { id: 'deactivate', label: 'Deactivate…' },
];

function actionSelect(id: string): SafeHtml {
  return html`<div><label for="${id}">Action</label>
<select id="${id}" name="action" aria-describedby="${id}-help">
${MENU.map((a) => html`<option value="${a.id}">${a.label}</option>`)}
</select></div>
<button type="submit">Apply…</button>`;
}

function listSection(view: AdminPageView, list: UserList): SafeHtml {
  const { prefix, search } = view;
  return html`<form method="get" action="${prefix}/admin" role="search" class="bar">
<div><label for="search">Search users</label>
<input id="search" type="search" name="q" value="${search}" placeholder="email, username or name"></div>
<button type="submit">Search</button>
</form>
<form method="post" action="${prefix}/admin">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="q" value="${search}">
<input type="hidden" name="page" value="${list.page}">
<div class="bar">${actionSelect('bulk-action')}</div>
<p id="bulk-action-help" class="muted">Deactivating and logging out ask first. Ticked users an action does not fit (already deactivated, yourself, admins from the config) are listed and left out, never changed.</p>
<p class="muted" id="users-summary">${list.total} user${list.total === 1 ? '' : 's'}${search ? html` matching “${search}”` : ''}. Tick users, pick an action, press Apply.</p>
<div class="table-wrap panel">
<table aria-describedby="users-summary">
<thead><tr><th scope="col"><span class="visually-hidden">Select</span></th><th scope="col">Email</th><th scope="col" class="wide-only">Username</th><th scope="col" class="wide-only">Name</th><th scope="col">Status</th><th scope="col" class="wide-only">Admin</th><th scope="col" class="wide-only">Last sign-in</th><th scope="col" class="wide-only">Sessions</th></tr></thead>
<tbody>
${
  list.rows.length === 0
    ? html`<tr><td colspan="8">No users${search ? ' match this search' : ' yet'}.</td></tr>`
    : list.rows.map(
        (row) => html`<tr>
<td><input type="checkbox" name="user" value="${row.user.id}" id="pick-${row.user.id}" aria-label="Select ${row.user.email}"></td>
<td><a href="${userUrl(prefix, row.user.id)}">${addressHtml(row.user.email)}</a></td>
<td class="wide-only">${row.user.username}</td>
<td class="wide-only">${row.user.name}</td>
<td>${statusBadges(row)}${row.admin ? html` <span class="badge narrow-only">${row.adminByConfig ? 'admin (config)' : 'admin'}</span>` : ''}</td>
<td class="wide-only">${adminCell(row)}</td>
<td class="wide-only">${when(row.user.lastLoginAt)}</td>
<td class="wide-only">${row.sessions}</td>
</tr>`,
      )
}
</tbody>
</table>
</div>
</form>
<nav class="pages" aria-label="Pages">
${list.page > 1 ? html`<a href="${listUrl(prefix, search, list.page - 1)}" rel="prev">← Previous</a>` : ''}
<span>Page ${list.page} of ${list.pages}</span>
${list.page < list.pages ? html`<a href="${listUrl(prefix, search, list.page + 1)}" rel="next">Next →</a>` : ''}
</nav>
<h2>Add a user</h2>
<form method="post" action="${prefix}/admin" class="bar">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="add_user">
<div><label for="new-email">Email address</label>
<input id="new-email" type="email" name="email" required autocomplete="off"></div>
<div><label for="new-name">Name (optional)</label>
<input id="new-name" type="text" name="name" autocomplete="off"></div>
<button type="submit">Add user</button>
</form>`;
}

function mainSection(view: AdminPageView): SafeHtml {
  const ctx: PanelContext = {
    prefix: view.prefix,
    csrf: view.csrf,
    search: view.search,
    actorId: view.actorId,
  };
  const error = view.formError ?? null;
  if (view.bulk) return bulkConfirmSection(ctx, view.bulk.plan, view.bulk.back);
  if (view.user)
    return userSection(ctx, view.user, error, explainSection(view, view.user.detail.row.user.id));
  if (view.group) return groupSection(ctx, view.group, error);
  if (view.groups) return groupsSection(ctx, view.groups, error);
  if (view.list) return listSection(view, view.list);
  return html`<p class="message error" role="alert">That user or group does not exist (any more).</p><p><a href="${listUrl(view.prefix, view.search)}">← All users</a> · <a href="${groupsUrl(view.prefix)}">Groups</a></p>`;
}

/** The admin panel: results of the last action on top (as in Khoj), then what was asked for. */
export function adminPageBody(view: AdminPageView): SafeHtml {
  const onList = !view.user && !view.group && !view.groups && view.list;
  return html`<h1>Admin panel</h1>
<p class="muted">Signed in as <strong>${view.actor}</strong> · <a href="${view.prefix}/logout" class="nowrap">Sign out</a></p>
${onList ? html`<nav aria-label="Panel"><p><strong>Users</strong> · <a href="${groupsUrl(view.prefix)}">Groups</a></p></nav>` : ''}
${onList ? mailFailureBlock(view.mailFailure) : ''}
${outcomeBlock(view)}
${mainSection(view)}`;
}
