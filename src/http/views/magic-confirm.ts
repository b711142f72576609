import { html, type SafeHtml } from '../../html.js';

export interface MagicConfirmView {
  prefix: string;
  token: string;
  csrf: string;
  /** The account the link signs into. */
  email: string;
}

/** The button a one-time link opens on, naming the account it signs into. */
export function magicConfirmBody(view: MagicConfirmView): SafeHtml {
  return html`<h1>Confirm sign-in</h1>
<p>You are signing in as <strong>${view.email}</strong>.</p>
<p>Press the button to finish signing in on this device. If this is not your address, do not press it: someone may have sent you a link to their account.</p>
<form method="post" action="${view.prefix}/magic">
<input type="hidden" name="token" value="${view.token}">
<input type="hidden" name="csrf" value="${view.csrf}">
<button type="submit" autofocus>Sign in as ${view.email}</button>
</form>`;
}
