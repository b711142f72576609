import { html, type SafeHtml } from '../../html.js';
import type { Session } from '../../ports/sessions.js';
import { PASSKEY_ENROL_PATH } from '../login/passkey-enrol.js';
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

/** A passkey as the account page lists it: never its public key or counter. */
export interface PasskeyRow {
  id: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  /** The BS flag of its last ceremony: the passkey is synced (iCloud Keychain, Google, …). */
  backedUp: boolean;
}

/** The "Two-step verification" section (password sign-in only). */
export interface TwoStepView {
  totp: 'none' | 'pending' | 'confirmed';
  confirmedAt: number | null;
  recoveryCodesLeft: number;
  /** `auth.basic.second_factor: required`. */
  required: boolean;
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
  /** null: no passkeys section (`passkey` not enabled and the user has none). */
  passkeys: readonly PasskeyRow[] | null;
  /** Whether `passkey` is enabled: the page then offers to add one. */
  passkeyEnrolment: boolean;
  /** null: no two-step section (`basic` not enabled). */
  twoStep: TwoStepView | null;
  /** Recovery codes just made: shown once, here and nowhere else. */
  recoveryCodes: readonly string[] | null;
}

/** A step that asks before it changes something (or, for a rename, asks for the new name). */
export type AccountStep =
  | { kind: 'rename_passkey'; passkey: PasskeyRow }
  | { kind: 'remove_passkey'; passkey: PasskeyRow }
  /** `refused`: second factor required and no passkey to stand in for the TOTP. */
  | { kind: 'disable_totp'; refused: boolean; required: boolean };

export interface AccountStepView {
  prefix: string;
  csrf: string;
  step: AccountStep;
}

/** A form that posts one account action with the page's CSRF token. */
function actionForm(
  view: { prefix: string; csrf: string },
  action: string,
  inner: SafeHtml,
  cls = '',
): SafeHtml {
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

/** Where "Add a passkey" leads: the enrolment page, coming back here afterwards. */
export function passkeyEnrolUrl(prefix: string): string {
  return `${prefix}${PASSKEY_ENROL_PATH}?rd=${encodeURIComponent(`${prefix}/account`)}`;
}

/** Where "Set up" leads: the TOTP enrolment page. */
export function totpSetupUrl(prefix: string): string {
  return `${prefix}/totp/setup`;
}

/** A GET form (no CSRF: it changes nothing) opening one step's page. */
function stepButtons(view: AccountPageView, hidden: Record<string, string>, inner: SafeHtml) {
  return html`<form method="get" action="${view.prefix}/account">
${Object.entries(hidden).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
${inner}</form>`;
}

function passkeysSection(view: AccountPageView, passkeys: readonly PasskeyRow[]): SafeHtml {
  return html`<h2 id="passkeys">Passkeys</h2>
<p class="muted">Sign in with your fingerprint, face or screen lock instead of waiting for an email.</p>
${
  passkeys.length === 0
    ? html`<p class="muted">You have no passkeys yet.</p>`
    : html`<div class="table-wrap"><table aria-labelledby="passkeys">
<thead><tr><th scope="col">Passkey</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>
${passkeys.map(
  (p) => html`<tr>
<td><strong>${p.name}</strong>${p.backedUp ? html` <span class="badge info" title="Backed up and synced to your other devices by your password manager">synced</span>` : ''}<br><span class="muted">added ${when(p.createdAt)}</span><br><span class="muted">last used ${p.lastUsedAt === null ? 'never' : when(p.lastUsedAt)}</span></td>
<td>${stepButtons(
    view,
    { passkey: p.id },
    html`<button type="submit" name="step" value="rename_passkey" class="small secondary" aria-label="Rename the passkey ${p.name}">Rename</button>
<button type="submit" name="step" value="remove_passkey" class="small danger secondary" aria-label="Remove the passkey ${p.name}">Remove</button>
`,
  )}</td>
</tr>`,
)}
</tbody></table></div>`
}
${view.passkeyEnrolment ? html`<p><a href="${passkeyEnrolUrl(view.prefix)}">Add a passkey on this device</a></p>` : ''}`;
}

function recoveryCodesBlock(codes: readonly string[]): SafeHtml {
  return html`<div class="issued" role="status">
<h2 id="recovery-codes">Your new recovery codes</h2>
<p>Save them now (print them or keep them in a password manager): they are not shown again. Each one works once, when you cannot use your authenticator app. The old codes no longer work.</p>
<ol aria-labelledby="recovery-codes">
${codes.map((code) => html`<li><code>${code}</code></li>`)}
</ol>
</div>`;
}

function totpStatus(twoStep: TwoStepView): SafeHtml | string {
  if (twoStep.totp === 'confirmed')
    return html`<span class="badge info">on</span>${twoStep.confirmedAt === null ? '' : html` <span class="muted">since ${when(twoStep.confirmedAt)}</span>`}`;
  if (twoStep.totp === 'pending')
    return html`<span class="badge">off</span> <span class="muted">set-up not finished</span>`;
  return html`<span class="badge">off</span>`;
}

function twoStepSection(view: AccountPageView, twoStep: TwoStepView): SafeHtml {
  const on = twoStep.totp === 'confirmed';
  return html`<h2 id="two-step">Two-step verification</h2>
<p class="muted">When you sign in with your password, a code from an authenticator app${view.passkeys === null ? '' : ' or a passkey'} proves it is you.${twoStep.required ? ' This site requires it.' : ''}</p>
${view.recoveryCodes ? recoveryCodesBlock(view.recoveryCodes) : ''}
<dl>
<dt>Authenticator app</dt><dd>${totpStatus(twoStep)}</dd>
${on ? html`<dt>Recovery codes</dt><dd>${twoStep.recoveryCodesLeft} left</dd>` : ''}
</dl>
${
  on
    ? html`<div class="bar">
${actionForm(
  view,
  'regenerate_recovery_codes',
  html`<button type="submit" class="secondary">New recovery codes</button>
`,
)}
${stepButtons(
  view,
  {},
  html`<button type="submit" name="step" value="disable_totp" class="danger secondary">Turn off</button>
`,
)}
</div>`
    : html`<p><a href="${totpSetupUrl(view.prefix)}">${twoStep.totp === 'pending' ? 'Finish setting up an authenticator app' : 'Set up an authenticator app'}</a></p>`
}`;
}

/** `/auth/account`: who I am, where I am signed in, my app tokens. Works without JavaScript. */
export function accountPageBody(view: AccountPageView): SafeHtml {
  const { user } = view;
  return html`<h1>Your account</h1>
${view.message ? html`<p class="message ${view.message.kind}" role="${view.message.kind === 'error' ? 'alert' : 'status'}">${view.message.text}</p>` : ''}
<p><strong class="address">${user.email}</strong>${user.name && user.name !== user.email ? html`<br><span class="muted">${user.name}</span>` : ''}<br><span class="muted">Username: ${user.username}</span></p>
${sessionsSection(view)}
${view.passkeys ? passkeysSection(view, view.passkeys) : ''}
${view.twoStep ? twoStepSection(view, view.twoStep) : ''}
${view.tokens ? tokensSection(view, view.tokens) : ''}
<p><a href="${view.prefix}/logout">Sign out</a></p>`;
}

/** The page of one step: a rename form, or a question with the button that does it. */
export function accountStepBody(view: AccountStepView): SafeHtml {
  const { step, prefix } = view;
  const cancel = html`<p><a href="${prefix}/account">Cancel</a></p>`;
  if (step.kind === 'rename_passkey') {
    const p = step.passkey;
    return html`<h1>Rename a passkey</h1>
<p class="muted">A name that says where it lives, such as “Pixel 8” or “Work laptop, Chrome”.</p>
${actionForm(
  view,
  'rename_passkey',
  html`<input type="hidden" name="passkey" value="${p.id}">
<label for="passkey-name">New name</label>
<input id="passkey-name" name="name" type="text" required maxlength="64" autocomplete="off" spellcheck="false" value="${p.name}" autofocus>
<button type="submit">Save name</button>
`,
)}
${cancel}`;
  }
  if (step.kind === 'remove_passkey') {
    const p = step.passkey;
    return html`<h1>Remove the passkey “${p.name}”?</h1>
<p>It stops working at once, everywhere${p.backedUp ? ', on every device it is synced to' : ''}. You can still sign in another way, and add a new passkey later.</p>
${actionForm(
  view,
  'remove_passkey',
  html`<input type="hidden" name="passkey" value="${p.id}">
<input type="hidden" name="confirm" value="yes">
<button type="submit" class="danger">Remove passkey</button>
`,
)}
${cancel}`;
  }
  if (step.refused) {
    return html`<h1>Two-step verification cannot be turned off</h1>
<p class="message error" role="alert">This site requires a second step after your password. Add a passkey first: it then counts as your second step, and the authenticator app can be turned off.</p>
<p><a href="${prefix}/account">Back to your account</a></p>`;
  }
  return html`<h1>Turn off two-step verification?</h1>
<p>Your authenticator app and every recovery code stop working. ${step.required ? 'Signing in with your password then asks for one of your passkeys.' : 'Signing in with your password then needs the password alone.'}</p>
${actionForm(
  view,
  'disable_totp',
  html`<input type="hidden" name="confirm" value="yes">
<button type="submit" class="danger">Turn off</button>
`,
)}
${cancel}`;
}
