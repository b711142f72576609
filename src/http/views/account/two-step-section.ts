import { html, type SafeHtml } from '../../../html.js';
import type { AccountPageView } from '../account-page.js';
import { when } from '../when.js';
import { actionForm, stepButtons } from './forms.js';

/** The "Two-step verification" section (password sign-in only). */
export interface TwoStepView {
  totp: 'none' | 'pending' | 'confirmed';
  confirmedAt: number | null;
  recoveryCodesLeft: number;
  /** `auth.basic.second_factor: required`. */
  required: boolean;
}

/** Where "Set up" leads: the TOTP enrolment page. */
export function totpSetupUrl(prefix: string): string {
  return `${prefix}/totp/setup`;
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

/** "Two-step verification" (password sign-in): status, new recovery codes, turn off. */
export function twoStepSection(view: AccountPageView, twoStep: TwoStepView): SafeHtml {
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
