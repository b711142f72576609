import { html, type SafeHtml } from '../../html.js';
import type { Session } from '../../ports/sessions.js';
import { loginMethodName } from './login-method-name.js';
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

/** One choice of the new token's expiry: the form's value and its words. */
export interface ExpiryChoice {
  value: string;
  label: string;
}

export interface AccountPageView {
  prefix: string;
  csrf: string;
  /** For "expired" in the tokens table. */
  now: number;
  user: { email: string; name: string; username: string };
  /** The session this page was loaded with: marked "this device", never offered "end". */
  currentSessionId: string;
  sessions: readonly Session[];
  /** null when `tokens.enabled` is false. */
  tokens: readonly TokenRow[] | null;
  /** A token just created: shown once, here and nowhere else. */
  issued: { name: string; token: string } | null;
  message: { kind: 'info' | 'error'; text: string } | null;
  /** The expiry choices offered, shortest first; `defaultExpiry` is the one selected. */
  expiryChoices: readonly ExpiryChoice[];
  defaultExpiry: string;
  /** What the token form held when it was refused, so it is not typed again. */
  draft: { name: string; expiry: string } | null;
  /** `auth.oidc.display_name`: how an `oidc` session is named. */
  oidcName: string;
}

/** A form that posts one account action with the page's CSRF token. */
function actionForm(view: AccountPageView, action: string, inner: SafeHtml, cls = ''): SafeHtml {
  return html`<form method="post" action="${view.prefix}/account"${cls ? html` class="${cls}"` : ''}>
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="${action}">
${inner}</form>`;
}

function sessionsSection(view: AccountPageView): SafeHtml {
  // This device first, then the most recently seen.
  const current = view.currentSessionId;
  const sessions = [...view.sessions].sort((a, b) =>
    a.id === current ? -1 : b.id === current ? 1 : b.lastSeenAt - a.lastSeenAt,
  );
  const others = sessions.filter((s) => s.id !== current).length;
  return html`<h2 id="sessions">Where you are signed in (${sessions.length})</h2>
<div class="table-wrap"><table aria-labelledby="sessions">
<thead><tr><th scope="col">Device</th><th scope="col">Last active</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>
${sessions.map((s) => {
  const device = describeUserAgent(s.userAgent);
  const ip = s.ip || 'unknown address';
  const isCurrent = s.id === current;
  return html`<tr${isCurrent ? html` aria-current="true"` : ''}>
<td>${device}${isCurrent ? html` <span class="badge current">this device</span>` : ''}<br><span class="muted">${ip} · ${loginMethodName(s.method, view.oidcName)}</span></td>
<td>${when(s.lastSeenAt)}</td>
<td>${
    isCurrent
      ? html`<a href="${view.prefix}/logout">Sign out</a>`
      : actionForm(
          view,
          'end_session',
          html`<input type="hidden" name="session" value="${s.id}">
<button type="submit" class="small danger secondary" aria-label="End the session on ${device} from ${ip}">End</button>
`,
        )
  }</td>
</tr>`;
})}
</tbody></table></div>
${
  others > 0
    ? actionForm(
        view,
        'end_other_sessions',
        html`<button type="submit" class="danger secondary">Sign out everywhere else (${others})</button>
`,
        'bar',
      )
    : html`<p class="muted">You are signed in on this device only.</p>`
}`;
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

function tokensSection(view: AccountPageView, tokens: readonly TokenRow[]): SafeHtml {
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

/** `/auth/account`: who I am, where I am signed in, my app tokens. Works without JavaScript. */
export function accountPageBody(view: AccountPageView): SafeHtml {
  const { user } = view;
  return html`<h1>Your account</h1>
${view.message ? html`<p class="message ${view.message.kind}" role="${view.message.kind === 'error' ? 'alert' : 'status'}">${view.message.text}</p>` : ''}
<p><strong class="address">${user.email}</strong>${user.name && user.name !== user.email ? html`<br><span class="muted">${user.name}</span>` : ''}<br><span class="muted">Username: ${user.username}</span></p>
${sessionsSection(view)}
${view.tokens ? tokensSection(view, view.tokens) : ''}
<p><a href="${view.prefix}/logout">Sign out</a></p>`;
}
