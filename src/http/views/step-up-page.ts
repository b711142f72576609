import { html, type SafeHtml } from '../../html.js';
import { messageBlock, type PageMessage } from './login-page.js';
import { codeField } from './totp-code.js';

/**
 * What a step-up asks for: a rule's `require` (`passkey`, `mfa`), or `recent`: a fresh proof
 * before something a stolen session must not do (adding a passkey or an authenticator app,
 * creating an app token, new recovery codes, removing a passkey, turning two-step off).
 */
export type StepUpNeed = 'passkey' | 'mfa' | 'recent';

export interface StepUpView {
  prefix: string;
  need: StepUpNeed;
  /** Already checked with safeRedirect. */
  rd: string;
  /** The session-bound CSRF token. */
  csrf: string;
  email: string;
  /** The session already has what is asked (another tab did it): only "Continue". */
  done: boolean;
  /** Offer the passkey (the user has one and passkeys are enabled). */
  passkey: boolean;
  /** Offer the TOTP and recovery-code forms (the user has TOTP and it counts for `need`). */
  totp: boolean;
  /** The user has TOTP, but it does not count here (`need` is `passkey`). */
  totpNotEnough: boolean;
  /** `recent` only: the magic-link form, filled in with the user's address, or null. */
  link: SafeHtml | null;
  message: PageMessage | null;
  /** Which form the message is about, so its field is marked invalid. */
  failed?: 'code' | 'recovery';
}

const HEADINGS: Record<StepUpNeed, string> = {
  passkey: 'This page asks for a passkey',
  mfa: 'This page asks for a second step',
  recent: 'Confirm it is you',
};

function why(view: StepUpView): SafeHtml {
  if (view.need === 'recent') {
    return html`<p>You are signed in as <strong class="address">${view.email}</strong>, but not recently. Before this change, show once more that it is you.</p>`;
  }
  const what =
    view.need === 'passkey'
      ? 'a passkey'
      : 'a second step: a passkey or a code from your authenticator app';
  return html`<p>You are signed in as <strong class="address">${view.email}</strong>. The page you asked for also needs ${what}.</p>`;
}

function passkeyBlock(view: StepUpView): SafeHtml {
  return html`<div class="method method-passkey" data-passkey="signin" data-options="${view.prefix}/passkey/step-up/options" data-verify="${view.prefix}/passkey/step-up" data-rd="${view.rd}" data-csrf="${view.csrf}">
<p class="message error" role="alert" data-passkey-message hidden></p>
<div data-needs-webauthn hidden><button type="button" data-passkey-start>Use your passkey</button></div>
<noscript><p class="muted">Using a passkey needs JavaScript in this browser.</p></noscript>
</div>`;
}

function hidden(view: StepUpView): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="rd" value="${view.rd}">
<input type="hidden" name="need" value="${view.need}">`;
}

function totpBlock(view: StepUpView): SafeHtml {
  return html`<form method="post" action="${view.prefix}/totp/step-up">
${hidden(view)}
${codeField('step-up-code', 'Enter the 6-digit code from your authenticator app', view.failed === 'code', !view.passkey && view.failed !== 'recovery')}
<button type="submit"${view.passkey ? html` class="secondary"` : ''}>Verify</button>
</form>
<details${view.failed === 'recovery' ? html` open` : ''}>
<summary>Use a recovery code</summary>
<form method="post" action="${view.prefix}/totp/step-up">
${hidden(view)}
<label for="step-up-recovery">Recovery code</label>
<input id="step-up-recovery" name="recovery_code" type="text" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="40" required${view.failed === 'recovery' ? html` aria-invalid="true" autofocus` : ''}>
<p class="muted">One of the codes you saved when you set up the app. Each works once.</p>
<button type="submit" class="secondary">Verify with recovery code</button>
</form>
</details>`;
}

/** Nothing to offer: say so, and where to add what is missing. */
function nothingBlock(view: StepUpView): SafeHtml {
  const account = `${view.prefix}/account`;
  if (view.need === 'passkey') {
    return html`<p class="message error" role="alert">Your account has no passkey yet${view.totpNotEnough ? ', and here a code from your authenticator app is not enough: only a passkey counts' : ''}.</p>
<p>Add a passkey on <a href="${account}">your account page</a>, then open the page again.</p>`;
  }
  return html`<p class="message error" role="alert">Your account has neither a passkey nor an authenticator app set up.</p>
<p>Add a passkey or set up an authenticator app on <a href="${account}">your account page</a>, then open the page again.</p>`;
}

/**
 * The step-up page: a signed-in person whose session lacks a factor is asked for it, with what
 * their account has (a passkey; a TOTP or recovery code where that counts; a fresh link for
 * `recent`), or told plainly that there is nothing to use and where to add it.
 */
export function stepUpBody(view: StepUpView): SafeHtml {
  const heading = html`<h1>${HEADINGS[view.need]}</h1>
${messageBlock(view.message)}`;
  const footer = html`<p class="muted">Not you? <a href="${view.prefix}/logout">Sign out</a>.</p>`;
  if (view.done) {
    return html`${heading}
<p>Done: this session has already shown it.</p>
<a class="button" href="${view.rd}">Continue</a>`;
  }
  const offers: SafeHtml[] = [];
  if (view.passkey) offers.push(passkeyBlock(view));
  if (view.totp) offers.push(totpBlock(view));
  if (view.link) {
    offers.push(html`<p>Or get a new sign-in link by email: opening it counts as a fresh sign-in.</p>
${view.link}`);
  }
  const divider = html`<p class="divider" aria-hidden="true"><span>or</span></p>`;
  const body =
    offers.length === 0
      ? view.need === 'recent'
        ? html`<p>Sign out and sign in again, then make the change right away.</p>`
        : nothingBlock(view)
      : offers.flatMap((offer, index) => (index === 0 ? [offer] : [divider, offer]));
  const note =
    view.totpNotEnough && offers.length > 0
      ? html`<p class="muted">A code from your authenticator app does not count here: this page needs a passkey.</p>`
      : '';
  return html`${heading}
${why(view)}
${body}
${note}
${footer}`;
}
