import { html, type SafeHtml } from '../../html.js';
import { emailFormOpening } from '../login/email-form.js';

/** Why a link cannot sign in, as `LoginLinks.inspect` found it. */
export type DeadLinkReason = 'used' | 'expired' | 'replaced' | 'invalid';

export interface DeadLinkView {
  prefix: string;
  csrf: string;
  reason: DeadLinkReason;
  /** How long links last, in words ("15 minutes"). */
  ttl: string;
  /** Where the new link should lead; `/magic_link` checks it again. */
  rd: string;
  /** The address the link itself carries; empty when it cannot be known from the link. */
  email: string;
}

const TITLES: Record<DeadLinkReason, string> = {
  used: 'Link already used',
  expired: 'Link expired',
  replaced: 'Link replaced',
  invalid: 'Link not valid',
};

export function deadLinkTitle(reason: DeadLinkReason): string {
  return TITLES[reason];
}

function explanation(view: DeadLinkView): SafeHtml {
  switch (view.reason) {
    case 'used':
      return html`This link was already used — each link works once. If you opened it before, you may already be signed in there.`;
    case 'expired':
      return html`This link expired (links last ${view.ttl}).`;
    case 'replaced':
      return html`This link was replaced by a newer one — only the newest link sent to an address works.`;
    case 'invalid':
      return html`This link is not valid. It may have been cut short or changed on its way: copy the whole link from the email, or ask for a new one.`;
  }
}

/**
 * The page a dead link opens on: what is wrong in plain words, then the "send me a new link"
 * form. The form is the same markup whatever the address; its field is filled in only from the
 * link itself, so it says nothing about which addresses have accounts.
 */
export function magicDeadLinkBody(view: DeadLinkView): SafeHtml {
  return html`<h1>${TITLES[view.reason]}</h1>
<p class="message error" role="alert">${explanation(view)}</p>
<h2>Get a new link</h2>
${emailFormOpening(
  { prefix: view.prefix, rd: view.rd, csrf: view.csrf, email: view.email },
  {
    action: '/magic_link',
    className: 'method',
    fieldId: 'magic-email',
    autocomplete: 'email',
    describedBy: 'magic-email-help',
    // An empty field is where to start; a filled one leaves the reader at the top, the alert.
    autofocus: view.email === '',
  },
)}
<button type="submit">Send me a new link</button>
<p id="magic-email-help" class="muted">The new link works once and expires in ${view.ttl}.</p>
</form>
<p class="muted"><a href="${view.prefix}/login?rd=${encodeURIComponent(view.rd)}">Other ways to sign in</a></p>`;
}
