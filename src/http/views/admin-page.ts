import type { Explanation } from '../../core/explain.js';
import { html, type SafeHtml } from '../../html.js';
import type { AuditEntry } from '../../ports/store.js';
import {
  type AdminOutcome,
  BULK_ACTIONS,
  type UserDetail,
  type UserList,
  type UserRow,
} from '../../services/admin.js';
import { describeUserAgent } from './user-agent.js';

export interface AdminPageView {
  prefix: string;
  csrf: string;
  actor: string;
  search: string;
  outcome: AdminOutcome | null;
  ttl: string;
  /** The list, or one user's detail. */
  list: UserList | null;
  detail: UserDetail | null;
  /** "Explain access" asked on this user's page, with its answer or why it has none. */
  explain?: AdminExplain | null;
  /** Password sign-in (`basic`) is enabled: offer "Set password" on a user's page. */
  passwords?: boolean;
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

function when(ms: number | null): string {
  if (ms === null) return 'never';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function listUrl(prefix: string, search: string, page = 1): string {
  const params = new URLSearchParams();
  if (search) params.set('q', search);
  if (page > 1) params.set('page', String(page));
  const query = params.toString();
  return `${prefix}/admin${query ? `?${query}` : ''}`;
}

function statusBadges(row: UserRow): SafeHtml {
  return html`${row.user.active ? html`<span class="badge info">active</span>` : html`<span class="badge off">deactivated</span>`}
${row.user.verified ? '' : html` <span class="badge">unverified</span>`}`;
}

function adminCell(row: UserRow): string {
  if (row.adminByConfig) return 'yes (config)';
  return row.admin ? 'yes' : 'no';
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

function actionSelect(id: string): SafeHtml {
  return html`<div><label for="${id}">Action</label>
<select id="${id}" name="action">
${BULK_ACTIONS.map((a) => html`<option value="${a.id}">${a.label}</option>`)}
</select></div>
<button type="submit">Apply</button>`;
}

function listSection(view: AdminPageView, list: UserList): SafeHtml {
  const { prefix, search } = view;
  return html`<form method="get" action="${prefix}/admin" role="search" class="bar">
<div><label for="search">Search users</label>
<input id="search" type="search" name="q" value="${search}" placeholder="email or name"></div>
<button type="submit">Search</button>
</form>
<form method="post" action="${prefix}/admin">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="q" value="${search}">
<input type="hidden" name="page" value="${list.page}">
<div class="bar">${actionSelect('bulk-action')}</div>
<p class="muted" id="users-summary">${list.total} user${list.total === 1 ? '' : 's'}${search ? html` matching “${search}”` : ''}. Tick users, pick an action, press Apply.</p>
<div class="table-wrap">
<table aria-describedby="users-summary">
<thead><tr><th scope="col"><span class="visually-hidden">Select</span></th><th scope="col">Email</th><th scope="col" class="wide-only">Name</th><th scope="col">Status</th><th scope="col">Admin</th><th scope="col" class="wide-only">Last sign-in</th><th scope="col" class="wide-only">Sessions</th></tr></thead>
<tbody>
${
  list.rows.length === 0
    ? html`<tr><td colspan="7">No users${search ? ' match this search' : ' yet'}.</td></tr>`
    : list.rows.map(
        (row) => html`<tr>
<td><input type="checkbox" name="user" value="${row.user.id}" id="pick-${row.user.id}" aria-label="Select ${row.user.email}"></td>
<td><a href="${prefix}/admin?user=${encodeURIComponent(row.user.id)}">${row.user.email}</a></td>
<td class="wide-only">${row.user.name}</td>
<td>${statusBadges(row)}</td>
<td>${adminCell(row)}</td>
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

/** What happened, in a word or two per fact; every value is escaped by `html`. */
function activityFacts(entry: AuditEntry): string {
  return Object.entries(entry.detail)
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join(', ');
}

function activitySection(activity: AuditEntry[] | null): SafeHtml {
  if (activity === null)
    return html`<h2>Recent activity</h2>
<p class="message error" role="alert">The store did not answer; recent activity cannot be shown just now.</p>`;
  return html`<h2>Recent activity</h2>
${
  activity.length === 0
    ? html`<p class="muted">Nothing recorded yet.</p>`
    : html`<div class="table-wrap"><table id="recent-activity">
<thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Outcome</th><th scope="col">By</th><th scope="col">IP</th><th scope="col">Details</th></tr></thead>
<tbody>
${activity.map(
  (entry) => html`<tr>
<td>${new Date(entry.at).toISOString().slice(0, 19).replace('T', ' ')} UTC</td>
<td><code>${entry.event}</code></td>
<td>${entry.outcome === 'failure' ? html`<span class="badge off">failure</span>` : 'success'}</td>
<td>${entry.actor}</td>
<td>${entry.ip ?? ''}</td>
<td>${activityFacts(entry)}</td>
</tr>`,
)}
</tbody></table></div>`
}`;
}

function detailSection(view: AdminPageView, detail: UserDetail): SafeHtml {
  const { prefix } = view;
  const { row, sessions } = detail;
  const user = row.user;
  return html`<p><a href="${listUrl(prefix, view.search)}">← All users</a></p>
<h2>${user.email}</h2>
<dl>
<dt>Name</dt><dd>${user.name}</dd>
<dt>Status</dt><dd>${statusBadges(row)}</dd>
<dt>Admin</dt><dd>${adminCell(row)}</dd>
<dt>Groups</dt><dd>${user.groups.length > 0 ? user.groups.join(', ') : 'none'}</dd>
<dt>Created</dt><dd>${when(user.createdAt)}</dd>
<dt>Last sign-in</dt><dd>${when(user.lastLoginAt)}</dd>
</dl>
<form method="post" action="${prefix}/admin" class="bar">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="user" value="${user.id}">
<input type="hidden" name="view" value="${user.id}">
${actionSelect('user-action')}
</form>
${
  view.passwords
    ? html`<form method="post" action="${prefix}/admin" class="bar">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="set_password">
<input type="hidden" name="user" value="${user.id}">
<input type="hidden" name="view" value="${user.id}">
<label for="new-password">Password${user.passwordHash ? ' (one is set)' : ''}</label>
<input id="new-password" name="password" type="password" autocomplete="new-password" maxlength="1024" aria-describedby="new-password-help">
<button type="submit" class="small">Set password</button>
<p id="new-password-help" class="muted">At least 8 characters. Leave empty to remove the password.</p>
</form>`
    : ''
}
${explainSection(view, user.id)}
<h2>Active sessions (${sessions.length})</h2>
${
  sessions.length === 0
    ? html`<p class="muted">No active sessions.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Started</th><th scope="col">Last seen</th><th scope="col">IP</th><th scope="col">Browser</th><th scope="col">Via</th><th scope="col"><span class="visually-hidden">End</span></th></tr></thead>
<tbody>
${sessions.map(
  (s) => html`<tr>
<td>${when(s.createdAt)}</td>
<td>${when(s.lastSeenAt)}</td>
<td>${s.ip || 'unknown'}</td>
<td title="${s.userAgent}">${describeUserAgent(s.userAgent)}</td>
<td>${s.method}</td>
<td><form method="post" action="${prefix}/admin">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="end_session">
<input type="hidden" name="user" value="${user.id}">
<input type="hidden" name="view" value="${user.id}">
<input type="hidden" name="session" value="${s.id}">
<button type="submit" class="small" aria-label="End session started ${when(s.createdAt)} from ${s.ip}">End</button>
</form></td>
</tr>`,
)}
</tbody></table></div>`
}
${activitySection(detail.activity)}`;
}

/** The admin panel: results of the last action on top (as in Khoj), then the users. */
export function adminPageBody(view: AdminPageView): SafeHtml {
  return html`<h1>Admin panel</h1>
<p class="muted">Signed in as <strong>${view.actor}</strong> · <a href="${view.prefix}/logout">Sign out</a></p>
${outcomeBlock(view)}
${view.detail ? detailSection(view, view.detail) : view.list ? listSection(view, view.list) : html`<p class="message error" role="alert">That user does not exist (any more).</p><p><a href="${listUrl(view.prefix, view.search)}">← All users</a></p>`}`;
}
