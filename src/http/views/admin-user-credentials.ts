import { html, type SafeHtml } from '../../html.js';
import type { UserDetail } from '../../services/admin.js';
import type { AppTokenInfo } from '../../services/app-tokens.js';
import { type FormError, fieldForm, type PanelContext, panelForm } from './admin-common.js';
import type { UserPageView } from './admin-user.js';
import { when } from './when.js';

// The credential sections of an admin's user page (admin-user.ts): app tokens, password,
// passkeys and two-step verification.

function expiryCell(now: number, expiresAt: number | null): SafeHtml | string {
  if (expiresAt === null) return 'never';
  return expiresAt <= now
    ? html`<span class="badge off">expired</span> ${when(expiresAt)}`
    : when(expiresAt);
}

export function tokensSection(
  ctx: PanelContext,
  view: UserPageView,
  tokens: readonly AppTokenInfo[],
  error: FormError | null,
): SafeHtml {
  const user = view.detail.row.user;
  const issued = view.issuedToken;
  return html`<h2 id="user-tokens">App tokens</h2>
${
  issued
    ? html`<section class="issued" aria-labelledby="issued-token-heading">
<h2 id="issued-token-heading">Token “${issued.name}” created</h2>
<p>Copy it now and hand it to ${user.email}: it is not shown again. It expires ${issued.expiresAt === null ? 'never' : when(issued.expiresAt)}.</p>
<label for="issued-token">New token</label>
<input id="issued-token" type="text" readonly value="${issued.token}" spellcheck="false" autocomplete="off">
</section>`
    : ''
}
${
  tokens.length === 0
    ? html`<p class="muted">No app tokens.</p>`
    : html`<div class="table-wrap panel"><table aria-labelledby="user-tokens">
<thead><tr><th scope="col">Name</th><th scope="col" class="wide-only">Created</th><th scope="col" class="wide-only">Last used</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Revoke</span></th></tr></thead>
<tbody>
${tokens.map(
  (t) => html`<tr>
<td>${t.name}<span class="narrow-only muted"><br>last used ${t.lastUsedAt === null ? 'never' : when(t.lastUsedAt)}</span></td>
<td class="wide-only">${when(t.createdAt)}</td>
<td class="wide-only">${t.lastUsedAt === null ? 'never' : when(t.lastUsedAt)}</td>
<td>${expiryCell(view.now, t.expiresAt)}</td>
<td>${panelForm(
    ctx,
    'revoke_token',
    { user: user.id, view: user.id, token: t.id },
    html`<button type="submit" class="small danger secondary" aria-label="Revoke the token ${t.name}">Revoke</button>`,
  )}</td>
</tr>`,
)}
</tbody></table></div>`
}
${fieldForm(
  ctx,
  'create_token',
  { user: user.id, view: user.id },
  {
    id: 'token-name',
    name: 'name',
    label: 'New token name',
    value: '',
    field: 'token_name',
    maxlength: 64,
    placeholder: 'e.g. Obsidian on the phone',
  },
  error,
  html`<div><label for="token-expiry">Expires after</label>
<select id="token-expiry" name="expires">
${view.expiryChoices.map((c, i) => html`<option value="${c.value}"${i === view.expiryChoices.length - 1 ? ' selected' : ''}>${c.label}</option>`)}
</select></div>
<button type="submit">Create token</button>`,
)}`;
}

export function passwordForm(ctx: PanelContext, detail: UserDetail): SafeHtml {
  const user = detail.row.user;
  return panelForm(
    ctx,
    'set_password',
    { user: user.id, view: user.id },
    html`<div><label for="new-password">Password${user.passwordHash ? ' (one is set)' : ''}</label>
<input id="new-password" name="password" type="password" autocomplete="new-password" maxlength="1024" aria-describedby="new-password-help">
<p id="new-password-help" class="muted">At least 8 characters. Leave empty to remove the password.</p></div>
<button type="submit" class="secondary">Set password</button>`,
    { row: true },
  );
}

export function passkeysSection(ctx: PanelContext, view: UserPageView): SafeHtml {
  const user = view.detail.row.user;
  const { passkeys } = view;
  return html`<h2 id="user-passkeys">Passkeys</h2>
${
  passkeys.length === 0
    ? html`<p class="muted">No passkeys.</p>`
    : html`<div class="table-wrap panel"><table aria-labelledby="user-passkeys">
<thead><tr><th scope="col">Name</th><th scope="col" class="wide-only">Added</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Remove</span></th></tr></thead>
<tbody>
${passkeys.map(
  (p) => html`<tr>
<td>${p.name}${p.backedUp ? html` <span class="badge info">synced</span>` : ''}</td>
<td class="wide-only">${when(p.createdAt)}</td>
<td>${p.lastUsedAt === null ? 'never' : when(p.lastUsedAt)}</td>
<td>${panelForm(
    ctx,
    'remove_passkey',
    { user: user.id, view: user.id, passkey: p.id },
    html`<button type="submit" class="small danger secondary" aria-label="Remove the passkey ${p.name}">Remove</button>`,
  )}</td>
</tr>`,
)}
</tbody></table></div>
${panelForm(ctx, 'remove_all_passkeys', { user: user.id, view: user.id }, html`<button type="submit" class="danger secondary">Remove all passkeys</button>`, { row: true })}`
}`;
}

export function twoStepSection(ctx: PanelContext, view: UserPageView): SafeHtml {
  const user = view.detail.row.user;
  const { twoStep } = view;
  const status =
    twoStep.totp === 'confirmed'
      ? html`<span class="badge info">on</span>${twoStep.confirmedAt === null ? '' : html` since ${when(twoStep.confirmedAt)}`}; ${twoStep.recoveryCodesLeft} recovery codes left`
      : twoStep.totp === 'pending'
        ? html`<span class="badge">off</span> set-up begun, not finished`
        : html`<span class="badge">off</span>`;
  return html`<h2>Two-step verification</h2>
<dl><dt>Authenticator app</dt><dd>${status}</dd></dl>
${
  twoStep.totp === 'none'
    ? ''
    : panelForm(
        ctx,
        'reset_second_factor',
        { user: user.id, view: user.id },
        html`<button type="submit" class="danger secondary">Reset two-step verification</button>`,
        { row: true },
      )
}`;
}
