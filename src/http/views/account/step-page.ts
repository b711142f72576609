import { html, type SafeHtml } from '../../../html.js';
import { actionForm } from './forms.js';
import type { PasskeyRow } from './passkeys-section.js';

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
