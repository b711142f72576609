import { html, type SafeHtml } from '../../html.js';

export interface PasskeySignInView {
  prefix: string;
  /** Already checked with safeRedirect. */
  rd: string;
}

/**
 * The login page's passkey control: a button the script wires up (and shows, see
 * loginPageBody), and the place its messages go.
 */
export function passkeySignInControl(view: PasskeySignInView): SafeHtml {
  return html`<div class="method method-passkey" data-passkey="signin" data-options="${view.prefix}/passkey/login/options" data-verify="${view.prefix}/passkey/login" data-rd="${view.rd}">
<p class="message error" role="alert" data-passkey-message hidden></p>
<button type="button" data-passkey-start>Sign in with a passkey</button>
</div>`;
}
