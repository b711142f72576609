import { html, type SafeHtml } from '../../../html.js';
import type { AccountPageView } from '../account-page.js';
import { when } from '../when.js';
import { actionForm } from './forms.js';

/** An app token as the account page lists it: never the secret, never its hash. */
export interface TokenRow {
  id: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number | null;
  /** "app.example.com /api/** GET, POST", or null when unrestricted. */
  scope: string | null;
}

/** One choice of the new token's expiry: the form's value and its words. */
export interface ExpiryChoice {
  value: string;
  label: string;
}

function expiryCell(view: AccountPageView, expiresAt: number | null): SafeHtml | string {
  if (expiresAt === null) return 'never';
  if (expiresAt <= view.now) return html`<span class="off">expired ${when(expiresAt)}</span>`;
  return when(expiresAt);
}

function issuedBlock(issued: { name: string; token: string }): SafeHtml {
  return html`<div class="issued" role="status">
<h2>Token “${issued.name}” created</h2>
<p>Copy it now: it is not shown again. Paste it where the app asks for an API key or token.</p>
<label for="issued-token">Your new token</label>
<input id="issued-token" type="text" readonly value="${issued.token}" spellcheck="false" autocomplete="off" autofocus>
</div>`;
}

/** "App tokens": the list, a token just created, and the form for a new one. */
export function tokensSection(view: AccountPageView, tokens: readonly TokenRow[]): SafeHtml {
  const draft = view.draft;
  const selected = draft?.expiry ?? view.defaultExpiry;
  return html`<h2 id="tokens">App tokens</h2>
<p class="muted">For apps and scripts that cannot sign in with a browser. A token acts as you until it expires or you revoke it.</p>
${view.issued ? issuedBlock(view.issued) : ''}
${
  tokens.length === 0
    ? html`<p class="muted">You have no app tokens.</p>`
    : html`<div class="table-wrap"><table aria-labelledby="tokens">
<thead><tr><th scope="col">Name</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>
${tokens.map(
  (t) => html`<tr>
<td><strong>${t.name}</strong><br><span class="muted">created ${when(t.createdAt)}</span><br><span class="muted">${t.scope ? html`only ${t.scope}` : 'any app you may use'}</span></td>
<td>${expiryCell(view, t.expiresAt)}<br><span class="muted">last used ${t.lastUsedAt === null ? 'never' : when(t.lastUsedAt)}</span></td>
<td>${actionForm(
    view,
    'revoke_token',
    html`<input type="hidden" name="token" value="${t.id}">
<button type="submit" class="small danger secondary" aria-label="Revoke the token ${t.name}">Revoke</button>
`,
  )}</td>
</tr>`,
)}
</tbody></table></div>`
}
<h3>New token</h3>
${actionForm(
  view,
  'create_token',
  html`<div><label for="token-name">Name</label>
<input id="token-name" name="name" type="text" required maxlength="64" autocomplete="off" placeholder="e.g. Obsidian on my phone" value="${draft?.name ?? ''}"></div>
<div><label for="token-expiry">Expires after</label>
<select id="token-expiry" name="expires">
${view.expiryChoices.map((c) => html`<option value="${c.value}"${c.value === selected ? ' selected' : ''}>${c.label}</option>`)}
</select></div>
<button type="submit">Create token</button>
`,
  'bar',
)}`;
}
