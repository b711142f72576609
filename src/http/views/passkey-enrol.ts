import { html, type SafeHtml } from '../../html.js';

export interface PasskeyEnrolView {
  prefix: string;
  /** Already checked with safeRedirect. */
  rd: string;
  /** The session-bound CSRF token (the "Not now" form and the script's calls). */
  csrf: string;
  email: string;
  /** How the new passkey will be named ("Chrome on macOS"). */
  device: string;
}

/**
 * "Sign in faster next time on this device?" after a sign-in by link or SSO. "Create a passkey"
 * needs the script (hidden without it); "Not now" is a plain form that goes on to `rd`.
 */
export function passkeyEnrolBody(view: PasskeyEnrolView): SafeHtml {
  return html`<h1>Sign in faster next time on this device?</h1>
<p>You are signed in as <strong class="address">${view.email}</strong>.</p>
<p>Create a passkey and next time you sign in here with your fingerprint, face or screen lock: no email to wait for, nothing to type.</p>
<div data-passkey="register" data-options="${view.prefix}/passkey/register/options" data-verify="${view.prefix}/passkey/register" data-rd="${view.rd}" data-csrf="${view.csrf}">
<p class="message error" role="alert" data-passkey-message hidden></p>
<div data-needs-webauthn hidden>
<button type="button" data-passkey-start>Create a passkey</button>
<p class="muted">It will be named “${view.device}”. You can rename or remove it on your account page.</p>
</div>
</div>
<form method="post" action="${view.prefix}/passkey/enrol/skip">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="rd" value="${view.rd}">
<button type="submit" class="secondary">Not now</button>
</form>`;
}
