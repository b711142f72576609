import { html, type SafeHtml } from '../../html.js';
import type { Session } from '../../ports/sessions.js';
import { describeUserAgent } from './user-agent.js';
import { when } from './when.js';

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

export interface AccountPageView {
  prefix: string;
  csrf: string;
  user: { email: string; name: string; username: string };
  /** The session this page was loaded with: marked "this device", never offered "end". */
  currentSessionId: string;
  sessions: readonly Session[];
  /** null when `tokens.enabled` is false. */
  tokens: readonly TokenRow[] | null;
  /** A token just created: shown once, here and nowhere else. */
  issued: { name: string; token: string } | null;
  message: { kind: 'info' | 'error'; text: string } | null;
  /** The expiry choices offered (days), the longest first being `tokens.max_lifetime`. */
  expiryDays: readonly number[];
  /** How each login method is named to a person (`oidc` → the configured display name). */
  methodNames: Readonly<Record<string, string>>;
}

/** "Chrome 126 on Linux · 203.0.113.7" — the device in words, as people recognise it. */
function deviceCell(session: Session): SafeHtml {
  return html`${describeUserAgent(session.userAgent)}<br><span class="muted">${session.ip || 'unknown address'}</span>`;
}

function sessionsSection(view: AccountPageView): SafeHtml {
  // This device first, then the most recently seen.
  const sessions = [...view.sessions].sort((a, b) =>
    a.id === view.currentSessionId
      ? -1
      : b.id === view.currentSessionId
        ? 1
        : b.lastSeenAt - a.lastSeenAt,
  );
  const others = sessions.filter((s) => s.id !== view.currentSessionId).length;
  return html`<h2 id="sessions">Where you are signed in (${sessions.length})</h2>
<div class="table-wrap"><table aria-labelledby="sessions">
<thead><tr><th scope="col">Device</th><th scope="col">Signed in with</th><th scope="col">Last active</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>
${sessions.map(
  (s) => html`<tr${s.id === view.currentSessionId ? html` aria-current="true"` : ''}>
<td>${deviceCell(s)}${s.id === view.currentSessionId ? html` <span class="badge current">this device</span>` : ''}</td>
<td>${view.methodNames[s.method] ?? s.method}</td>
<td>${when(s.lastSeenAt)}</td>
<td>${
    s.id === view.currentSessionId
      ? html`<a href="${view.prefix}/logout">Sign out</a>`
      : html`<form method="post" action="${view.prefix}/account">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="end_session">
<input type="hidden" name="session" value="${s.id}">
<button type="submit" class="small danger secondary" aria-label="End the session on ${describeUserAgent(s.userAgent)} from ${s.ip || 'an unknown address'}">End</button>
</form>`
  }</td>
</tr>`,
)}
</tbody></table></div>
${
  others > 0
    ? html`<form method="post" action="${view.prefix}/account">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="end_other_sessions">
<button type="submit" class="danger secondary">Sign out everywhere else (${others})</button>
</form>`
    : html`<p class="muted">You are signed in on this device only.</p>`
}`;
}

function tokensSection(view: AccountPageView, tokens: readonly TokenRow[]): SafeHtml {
  return html`<h2 id="tokens">App tokens</h2>
<p class="muted">For apps and scripts that cannot sign in with a browser: paste a token where the app asks for an API key. It acts as you until it expires or you revoke it.</p>
${
  view.issued
    ? html`<div class="issued" role="status">
<h2>Token “${view.issued.name}” created</h2>
<p>Copy it now: it is not shown again.</p>
<code>${view.issued.token}</code>
</div>`
    : ''
}
${
  tokens.length === 0
    ? html`<p class="muted">You have no app tokens.</p>`
    : html`<div class="table-wrap"><table aria-labelledby="tokens">
<thead><tr><th scope="col">Name</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>
${tokens.map(
  (t) => html`<tr>
<td>${t.name}<br><span class="muted">created ${when(t.createdAt)}${t.scope ? html` · only ${t.scope}` : ''}</span></td>
<td>${t.lastUsedAt === null ? 'never' : when(t.lastUsedAt)}</td>
<td>${t.expiresAt === null ? 'never' : when(t.expiresAt)}</td>
<td><form method="post" action="${view.prefix}/account">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="revoke_token">
<input type="hidden" name="token" value="${t.id}">
<button type="submit" class="small danger secondary" aria-label="Revoke the token ${t.name}">Revoke</button>
</form></td>
</tr>`,
)}
</tbody></table></div>`
}
<form method="post" action="${view.prefix}/account" class="bar">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="create_token">
<div><label for="token-name">New token’s name</label>
<input id="token-name" name="name" type="text" required maxlength="64" autocomplete="off" placeholder="e.g. Obsidian on my phone"></div>
<div><label for="token-expiry">Expires after</label>
<select id="token-expiry" name="expires_days">
${view.expiryDays.map((days, i) => html`<option value="${days}"${i === view.expiryDays.length - 1 ? ' selected' : ''}>${days} days</option>`)}
</select></div>
<button type="submit">Create token</button>
</form>`;
}

/** `/auth/account`: who I am, where I am signed in, my app tokens. Works without JavaScript. */
export function accountPageBody(view: AccountPageView): SafeHtml {
  const { user } = view;
  return html`<h1>Your account</h1>
<p><strong class="address">${user.email}</strong>${user.name && user.name !== user.email ? html`<br><span class="muted">${user.name}</span>` : ''}<br><span class="muted">Username: ${user.username}</span></p>
${view.message ? html`<p class="message ${view.message.kind}" role="${view.message.kind === 'error' ? 'alert' : 'status'}">${view.message.text}</p>` : ''}
${sessionsSection(view)}
${view.tokens ? tokensSection(view, view.tokens) : ''}
<p><a href="${view.prefix}/logout">Sign out</a></p>`;
}
