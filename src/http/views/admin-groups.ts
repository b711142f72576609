import { html, type SafeHtml } from '../../html.js';
import type { GroupDetail, GroupRow } from '../../services/admin-groups.js';
import {
  addressHtml,
  type FormError,
  fieldForm,
  groupsUrl,
  groupUrl,
  type PanelContext,
  panelForm,
  sourceBadge,
  userUrl,
} from './admin-common.js';

export interface GroupPageView {
  detail: GroupDetail;
  /** Show "delete this group?" instead of the group's page. */
  confirmDelete: boolean;
}

const GROUP_NAME_HELP =
  'Names are unique ignoring case. Rules and admin.groups in the config match them exactly.';

function readOnlyNote(row: GroupRow): SafeHtml {
  return html`<p class="message info" role="status">${
    row.source === 'scim'
      ? 'This group is provisioned over SCIM: change it at your identity provider.'
      : 'This group comes from sign-in claims: change it at your identity provider.'
  }</p>`;
}

/** Every group with its source and member count, and "Create a group". */
export function groupsSection(
  ctx: PanelContext,
  rows: readonly GroupRow[],
  error: FormError | null,
): SafeHtml {
  return html`<p><a href="${ctx.prefix}/admin">← All users</a></p>
<h2 id="groups-heading">Groups</h2>
<p class="muted" id="groups-summary">${rows.length} group${rows.length === 1 ? '' : 's'}. Groups made here can be changed here; groups from SCIM or an identity provider's claims are shown read-only.</p>
<div class="table-wrap panel">
<table aria-labelledby="groups-heading" aria-describedby="groups-summary">
<thead><tr><th scope="col">Name</th><th scope="col">Source</th><th scope="col">Members</th></tr></thead>
<tbody>
${
  rows.length === 0
    ? html`<tr><td colspan="3">No groups yet.</td></tr>`
    : rows.map(
        (row) => html`<tr>
<td>${row.id ? html`<a href="${groupUrl(ctx.prefix, row.id)}">${row.name}</a>` : row.name}</td>
<td>${sourceBadge(row.source)}${row.editable ? '' : html` <span class="muted">read-only</span>`}</td>
<td>${row.members}</td>
</tr>`,
      )
}
</tbody>
</table>
</div>
<h2>Create a group</h2>
${fieldForm(ctx, 'create_group', {}, { id: 'group-name', name: 'name', label: 'Group name', value: '', field: 'group_name', maxlength: 128, help: GROUP_NAME_HELP, placeholder: 'e.g. admins' }, error, html`<button type="submit">Create group</button>`)}`;
}

function membersTable(ctx: PanelContext, detail: GroupDetail): SafeHtml {
  const { row, members } = detail;
  if (members.length === 0) return html`<p class="muted">No members yet.</p>`;
  return html`<div class="table-wrap panel"><table aria-labelledby="members-heading">
<thead><tr><th scope="col">Email</th><th scope="col">Username</th>${row.editable ? html`<th scope="col"><span class="visually-hidden">Remove</span></th>` : ''}</tr></thead>
<tbody>
${members.map(
  (user) => html`<tr>
<td><a href="${userUrl(ctx.prefix, user.id)}">${addressHtml(user.email)}</a></td>
<td>${user.username}</td>
${
  row.editable
    ? html`<td>${panelForm(
        ctx,
        'remove_member',
        { group: row.id ?? '', user: user.id },
        html`<button type="submit" class="small danger secondary" aria-label="Remove ${user.email} from ${row.name}">Remove</button>`,
      )}</td>`
    : ''
}
</tr>`,
)}
</tbody></table></div>`;
}

/** One group: rename, members (add, remove), delete; read-only for SCIM's groups. */
export function groupSection(
  ctx: PanelContext,
  view: GroupPageView,
  error: FormError | null,
): SafeHtml {
  const { row, group } = view.detail;
  if (view.confirmDelete && row.editable) return confirmDeleteSection(ctx, view.detail);
  const id = group.id;
  return html`<p><a href="${groupsUrl(ctx.prefix)}">← All groups</a></p>
<h2>Group ${row.name}</h2>
<dl>
<dt>Source</dt><dd>${sourceBadge(row.source)}</dd>
<dt>Members</dt><dd>${row.members}</dd>
</dl>
${
  row.editable
    ? html`${fieldForm(ctx, 'rename_group', { group: id }, { id: 'rename', name: 'name', label: 'New name', value: row.name, field: 'rename', maxlength: 128, help: 'Renaming changes what rules and the groups header see for every member.' }, error, html`<button type="submit" class="secondary">Rename</button>`)}`
    : readOnlyNote(row)
}
<h2 id="members-heading">Members</h2>
${membersTable(ctx, view.detail)}
${
  row.editable
    ? html`${fieldForm(ctx, 'add_member', { group: id }, { id: 'member', name: 'member', label: 'Add a member (email or username)', value: '', field: 'member', maxlength: 320, placeholder: 'alice@example.com or alice' }, error, html`<button type="submit">Add member</button>`)}
<h2>Delete</h2>
<p class="muted">Deleting the group takes it away from its members. You will be asked to confirm.</p>
<form method="get" action="${ctx.prefix}/admin" class="bar">
<input type="hidden" name="group" value="${id}">
<input type="hidden" name="delete" value="1">
<button type="submit" class="danger secondary">Delete group…</button>
</form>`
    : ''
}`;
}

/** "Delete this group?" as its own page: a form, so it works without JavaScript. */
function confirmDeleteSection(ctx: PanelContext, detail: GroupDetail): SafeHtml {
  const { row, group } = detail;
  return html`<p><a href="${groupUrl(ctx.prefix, group.id)}">← Back to ${row.name}</a></p>
<h2>Delete the group ${row.name}?</h2>
<p class="message error" role="alert">${
    row.members === 0
      ? 'It has no members. This cannot be undone.'
      : `Its ${row.members} member${row.members === 1 ? '' : 's'} lose${row.members === 1 ? 's' : ''} it at once: rules that require it stop letting ${row.members === 1 ? 'that person' : 'them'} through, and it leaves the groups header. This cannot be undone.`
  }</p>
${
  detail.members.length > 0
    ? html`<p>Members: ${detail.members
        .slice(0, 20)
        .map(
          (u, i) => html`${i > 0 ? ', ' : ''}${addressHtml(u.email)}`,
        )}${detail.members.length > 20 ? ` and ${detail.members.length - 20} more` : ''}</p>`
    : ''
}
${panelForm(
  ctx,
  'delete_group',
  { group: group.id, confirm: 'yes' },
  html`<button type="submit" class="danger">Delete group ${row.name}</button>`,
)}
<p><a href="${groupUrl(ctx.prefix, group.id)}">Cancel: keep the group</a></p>`;
}
