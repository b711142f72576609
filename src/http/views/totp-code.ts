import { html, type SafeHtml } from '../../html.js';
import { messageBlock, type PageMessage } from './login-page.js';

export interface TotpCodeView {
  prefix: string;
  csrf: string;
  /** The account the password was right for. */
  email: string;
  /** Whether the user has a confirmed TOTP (the code and recovery-code forms). */
  totp: boolean;
  /** Where "use a passkey instead" goes, or null when the user has no passkey. */
  passkeyHref: string | null;
  /** Where "start over" goes (the sign-in page with the same rd). */
  restartHref: string;
  message: PageMessage | null;
  /** Which form the message is about, so its field is marked invalid. */
  failed?: 'code' | 'recovery';
}

/** The code field, as every TOTP form here has it (no JavaScript; the phone's keypad). */
export function codeField(id: string, label: string, invalid: boolean, autofocus = true): SafeHtml {
  return html`<label for="${id}">${label}</label>
<input id="${id}" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" minlength="6" maxlength="9" required${autofocus ? html` autofocus` : ''}${invalid ? html` aria-invalid="true"` : ''} spellcheck="false">`;
}

/** The second step of a password sign-in: a TOTP code, a recovery code, or a passkey. */
export function totpCodeBody(view: TotpCodeView): SafeHtml {
  const passkey = view.passkeyHref
    ? html`<a class="button${view.totp ? ' secondary' : ''}" href="${view.passkeyHref}">Use a passkey${view.totp ? ' instead' : ''}</a>`
    : '';
  const forms = view.totp
    ? html`<form method="post" action="${view.prefix}/totp">
<input type="hidden" name="csrf" value="${view.csrf}">
${codeField('totp-code', 'Enter the 6-digit code from your authenticator app', view.failed === 'code', view.failed !== 'recovery')}
<button type="submit">Verify</button>
</form>
${passkey}
<details${view.failed === 'recovery' ? html` open` : ''}>
<summary>Use a recovery code</summary>
<form method="post" action="${view.prefix}/totp/recovery">
<input type="hidden" name="csrf" value="${view.csrf}">
<label for="recovery-code">Recovery code</label>
<input id="recovery-code" name="recovery_code" type="text" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="40" required${view.failed === 'recovery' ? html` aria-invalid="true" autofocus` : ''}>
<p class="muted">One of the codes you saved when you set up the app. Each works once.</p>
<button type="submit" class="secondary">Sign in with recovery code</button>
</form>
</details>`
    : html`<p>Your account has a passkey as its second factor.</p>
${passkey}`;
  return html`<h1>Two-step verification</h1>
${messageBlock(view.message)}
<p>The password for <strong class="address">${view.email}</strong> is right. One more step:</p>
${forms}
<p class="muted"><a href="${view.restartHref}">Start over</a></p>`;
}

export interface PendingExpiredView {
  restartHref: string;
}

/** A half-done sign-in that is gone: expired, used, or never started in this browser. */
export function pendingExpiredBody(view: PendingExpiredView): SafeHtml {
  return html`<h1>Sign in again</h1>
<p class="message error" role="alert">This sign-in has expired or was already finished. Sign in again with your password.</p>
<a class="button" href="${view.restartHref}">Back to sign-in</a>`;
}
