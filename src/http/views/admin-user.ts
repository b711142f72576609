import { html, type SafeHtml } from '../../html.js';
import type { AuditEntry, PasskeyRecord } from '../../ports/store.js';
import type { UserDetail } from '../../services/admin.js';
import type { GroupMembership, GroupRow } from '../../services/admin-groups.js';
import type { AppTokenInfo } from '../../services/app-tokens.js';
import type { SecondFactorStatus } from '../../services/second-factor.js';
import {
  addressHtml,
  adminCell,
  eventHtml,
  type FormError,
  fieldForm,
  groupsUrl,
  groupUrl,
  listUrl,
  type PanelContext,
  panelForm,
  sourceBadge,
  statusBadges,
  userUrl,
} from './admin-common.js';
import {
  passkeysSection,
  passwordForm,
  tokensSection,
  twoStepSection,
} from './admin-user-credentials.js';
import { loginMethodName } from './login-method-name.js';
import { describeUserAgent } from './user-agent.js';
import { when } from './when.js';

/** One choice of a new token's expiry: the form's value and its words. */
export interface ExpiryChoice {
  value: string;
  label: string;
}

/** A question an action asks before it changes anything (the answer's form has `confirm=yes`). */
export type AdminConfirm =
  | { kind: 'remove_passkey'; passkeyId: string; name: string }
  | { kind: 'remove_all_passkeys'; count: number }
  | { kind: 'reset_second_factor' };

export interface UserPageView {
  detail: UserDetail;
  /** The user's passkeys, oldest first. */
  passkeys: readonly PasskeyRecord[];
  /** Their TOTP and recovery codes. */
  twoStep: SecondFactorStatus;
  /** Shown on top when the last action asks first. */
  confirm: AdminConfirm | null;
  /** The user's groups with their sources; null when they could not be read. */
  groups: readonly GroupMembership[];
  /** Admin-panel groups the user is not in, for "Add to group". */
  addable: readonly GroupRow[];
  /** Null when app tokens are turned off (`tokens.enabled: false`). */
  tokens: readonly AppTokenInfo[] | null;
  /** A token just created: its secret is on this page only. */
  issuedToken: { name: string; token: string; expiresAt: number | null } | null;
  expiryChoices: readonly ExpiryChoice[];
  /** For "expired" in the tokens table. */
  now: number;
  /** Password sign-in (`basic`) is enabled: offer "Set password". */
  passwords: boolean;
  /** The admin's own session: marked "this device" in the sessions table. */
  currentSessionId: string;
  /** `auth.oidc.display_name`, for "Via". */
  oidcName: string;
}

/**
 * The user's actions: only those that fit their state, destructive ones in the danger style.
 * Deactivate and "Log out everywhere" lead to a confirmation page (admin-bulk.ts); what cannot
 * be done here (their own account, admins from the config) is said instead of offered.
 */
function actionButtons(ctx: PanelContext, detail: UserDetail): SafeHtml {
  const { row } = detail;
  const user = row.user;
  const self = user.id === ctx.actorId;
  const button = (action: string, label: string, cls: string) =>
    html`<button type="submit" name="action" value="${action}"${cls ? html` class="${cls}"` : ''}>${label}</button>`;
  const notes: string[] = [];
  if (row.adminByConfig)
    notes.push(
      'Admin through the config (admin.emails or admin.groups): change it there, not in the panel.',
    );
  else if (self && row.admin) notes.push('This is you: you cannot remove your own admin rights.');
  if (self && user.active) notes.push('This is you: you cannot deactivate yourself.');
  return html`<form method="post" action="${ctx.prefix}/admin">
<input type="hidden" name="csrf" value="${ctx.csrf}">
<input type="hidden" name="user" value="${user.id}">
<input type="hidden" name="view" value="${user.id}">
<div class="bar actions">
${user.active ? button('login_url', 'Get email login URL', '') : button('activate', 'Reactivate', '')}
${row.admin ? '' : button('make_admin', 'Make admin', 'secondary')}
${row.admin && !row.adminByConfig && !self ? button('unmake_admin', 'Remove admin', 'danger secondary') : ''}
${detail.sessions.length > 0 ? button('logout_everywhere', 'Log out everywhere…', 'danger secondary') : ''}
${user.active && !self ? button('deactivate', 'Deactivate…', 'danger') : ''}
</div>
${notes.map((n) => html`<p class="muted">${n}</p>`)}
</form>
`;
}

function usernameForm(ctx: PanelContext, detail: UserDetail, error: FormError | null): SafeHtml {
  const user = detail.row.user;
  return html`<h2>Username</h2>
${fieldForm(ctx, 'set_username', { user: user.id, view: user.id }, { id: 'username', name: 'username', label: 'New username', value: user.username, field: 'username', maxlength: 256, help: 'What Remote-User carries (headers.user_value: username). Apps keyed on it may see a new account after a change.' }, error, html`<button type="submit" class="secondary">Save username</button>`)}`;
}

function groupsSection(ctx: PanelContext, view: UserPageView): SafeHtml {
  const user = view.detail.row.user;
  return html`<h2 id="user-groups">Groups</h2>
${
  view.groups.length === 0
    ? html`<p class="muted">Not in any group.</p>`
    : html`<div class="table-wrap panel"><table aria-labelledby="user-groups">
<thead><tr><th scope="col">Group</th><th scope="col">Source</th><th scope="col"><span class="visually-hidden">Remove</span></th></tr></thead>
<tbody>
${view.groups.map(
  (g) => html`<tr>
<td>${g.id ? html`<a href="${groupUrl(ctx.prefix, g.id)}">${g.name}</a>` : g.name}</td>
<td>${sourceBadge(g.source)}</td>
<td>${
    g.editable && g.id
      ? panelForm(
          ctx,
          'remove_member',
          { group: g.id, user: user.id, view: user.id },
          html`<button type="submit" class="small danger secondary" aria-label="Remove from ${g.name}">Remove</button>`,
        )
      : html`<span class="muted">read-only</span>`
  }</td>
</tr>`,
)}
</tbody></table></div>`
}
${
  view.addable.length > 0
    ? panelForm(
        ctx,
        'add_member',
        { user: user.id, view: user.id },
        html`<div><label for="add-group">Add to group</label>
<select id="add-group" name="group">
${view.addable.map((g) => html`<option value="${g.id ?? ''}">${g.name}</option>`)}
</select></div>
<button type="submit">Add to group</button>`,
        { row: true },
      )
    : html`<p class="muted">No other admin-panel group to add them to. <a href="${groupsUrl(ctx.prefix)}">Manage groups</a></p>`
}`;
}

function sessionsSection(ctx: PanelContext, view: UserPageView): SafeHtml {
  const { detail } = view;
  const { sessions } = detail;
  const user = detail.row.user;
  return html`<h2>Active sessions (${sessions.length})</h2>
${
  sessions.length === 0
    ? html`<p class="muted">No active sessions.</p>`
    : html`<div class="table-wrap panel"><table>
<thead><tr><th scope="col" class="wide-only">Started</th><th scope="col">Last seen</th><th scope="col" class="wide-only">IP</th><th scope="col">Browser</th><th scope="col" class="wide-only">Via</th><th scope="col"><span class="visually-hidden">End</span></th></tr></thead>
<tbody>
${sessions.map(
  (s) => html`<tr>
<td class="wide-only">${when(s.createdAt)}</td>
<td>${when(s.lastSeenAt)}</td>
<td class="wide-only">${s.ip || 'unknown'}</td>
<td title="${s.userAgent}">${describeUserAgent(s.userAgent)}<span class="narrow-only muted"><br>${s.ip || 'IP unknown'}</span>${s.id === view.currentSessionId ? html` <strong class="badge info">this device</strong>` : ''}</td>
<td class="wide-only">${loginMethodName(s.method, view.oidcName)}</td>
<td>${panelForm(
    ctx,
    'end_session',
    { user: user.id, view: user.id, session: s.id },
    html`<button type="submit" class="small danger secondary" aria-label="End session started ${when(s.createdAt)} from ${s.ip}">End</button>`,
  )}</td>
</tr>`,
)}
</tbody></table></div>`
}`;
}

/** What happened, in a word or two per fact; every value is escaped by `html`. */
function activityFacts(entry: AuditEntry): string {
  return Object.entries(entry.detail)
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join(', ');
}

/** "2026-12-06 03:27:47 UTC", wrapping between date and time only. */
function activityTime(at: number): SafeHtml {
  const iso = new Date(at).toISOString();
  return html`<span class="nowrap">${iso.slice(0, 10)}</span> <span class="nowrap">${iso.slice(11, 19)} UTC</span>`;
}

function activitySection(activity: AuditEntry[] | null): SafeHtml {
  if (activity === null)
    return html`<h2>Recent activity</h2>
<p class="message error" role="alert">The store did not answer; recent activity cannot be shown just now.</p>`;
  return html`<h2>Recent activity</h2>
${
  activity.length === 0
    ? html`<p class="muted">Nothing recorded yet.</p>`
    : html`<div class="table-wrap panel"><table id="recent-activity">
<thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col" class="wide-only">Outcome</th><th scope="col" class="wide-only">By</th><th scope="col" class="wide-only">IP</th><th scope="col" class="wide-only">Details</th></tr></thead>
<tbody>
${activity.map(
  (entry) => html`<tr>
<td>${activityTime(entry.at)}</td>
<td>${eventHtml(entry.event)}<span class="narrow-only muted facts"><br>${activityFacts(entry)}</span></td>
<td class="wide-only">${entry.outcome === 'failure' ? html`<span class="badge off">failure</span>` : 'success'}</td>
<td class="wide-only">${entry.actor.includes('@') ? addressHtml(entry.actor) : entry.actor}</td>
<td class="wide-only">${entry.ip ?? ''}</td>
<td class="wide-only facts">${activityFacts(entry)}</td>
</tr>`,
)}
</tbody></table></div>`
}`;
}

/** "Are you sure?" on top of the user's page, with the button that does it and a way back. */
function confirmBlock(ctx: PanelContext, view: UserPageView, confirm: AdminConfirm): SafeHtml {
  const user = view.detail.row.user;
  const hidden: Record<string, string> = { user: user.id, view: user.id, confirm: 'yes' };
  let question: string;
  let detail: string;
  let label: string;
  if (confirm.kind === 'remove_passkey') {
    hidden.passkey = confirm.passkeyId;
    question = `Remove the passkey “${confirm.name}” of ${user.email}?`;
    detail = 'It is refused at once, on every instance. They can still sign in another way.';
    label = 'Remove passkey';
  } else if (confirm.kind === 'remove_all_passkeys') {
    question = `Remove all ${confirm.count} passkeys of ${user.email}?`;
    detail =
      'Every one is refused at once, on every instance. Use this when a device is lost or the account was taken over.';
    label = 'Remove all passkeys';
  } else {
    question = `Reset two-step verification of ${user.email}?`;
    detail =
      'Their authenticator app and recovery codes stop working. When a second step is required, they set up a new one at their next password sign-in.';
    label = 'Reset two-step verification';
  }
  return html`<section class="issued" aria-labelledby="confirm-heading">
<h2 id="confirm-heading">${question}</h2>
<p>${detail}</p>
${panelForm(
  ctx,
  confirm.kind,
  hidden,
  html`<button type="submit" class="danger">${label}</button>
<a href="${userUrl(ctx.prefix, user.id)}">Cancel</a>`,
  { row: true },
)}
</section>`;
}

/** One user's page; `explain` is the "Explain access" section (admin-page.ts). */
export function userSection(
  ctx: PanelContext,
  view: UserPageView,
  error: FormError | null,
  explain: SafeHtml,
): SafeHtml {
  const { detail } = view;
  const { row } = detail;
  const user = row.user;
  return html`<p><a href="${listUrl(ctx.prefix, ctx.search)}">← All users</a> · <a href="${groupsUrl(ctx.prefix)}">Groups</a></p>
${view.confirm ? confirmBlock(ctx, view, view.confirm) : ''}
<h2>${addressHtml(user.email)}</h2>
<dl>
<dt>Username</dt><dd>${user.username}</dd>
<dt>Name</dt><dd>${user.name}</dd>
<dt>Status</dt><dd>${statusBadges(row)}</dd>
<dt>Admin</dt><dd>${adminCell(row)}</dd>
<dt>Created</dt><dd>${when(user.createdAt)}</dd>
<dt>Last sign-in</dt><dd>${when(user.lastLoginAt)}</dd>
</dl>
${actionButtons(ctx, detail)}
${usernameForm(ctx, detail, error)}
${groupsSection(ctx, view)}
${view.tokens ? tokensSection(ctx, view, view.tokens, error) : ''}
${view.passwords ? html`<h2>Password</h2>${passwordForm(ctx, detail)}` : ''}
${passkeysSection(ctx, view)}
${view.passwords || view.twoStep.totp !== 'none' ? twoStepSection(ctx, view) : ''}
${explain}
${sessionsSection(ctx, view)}
${activitySection(detail.activity)}`;
}
