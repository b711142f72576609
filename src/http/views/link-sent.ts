import { html, type SafeHtml } from '../../html.js';

export interface LinkSentView {
  prefix: string;
  rd: string;
  email: string;
  delivers: boolean;
  ttl: string;
}

/**
 * The one answer to "send me a link", whether or not the address has an account or may sign in:
 * it must not tell an outsider which addresses exist.
 */
export function linkSentBody(view: LinkSentView): SafeHtml {
  const again = `${view.prefix}/login?rd=${encodeURIComponent(view.rd)}`;
  return view.delivers
    ? html`<h1>Check your email</h1>
<p class="message info" role="status">If <strong>${view.email}</strong> may sign in here, a sign-in link is on its way to it.</p>
<p>Open the link on this device to sign in. It works once and expires in ${view.ttl}.</p>
<p class="muted">Nothing after a few minutes? Look in the spam folder, or <a href="${again}">ask for a new link</a>.</p>`
    : html`<h1>Ask your administrator</h1>
<p class="message info" role="status">Your request for <strong>${view.email}</strong> is noted.</p>
<p>This site does not send email. An administrator will hand you a sign-in link; it works once and expires ${view.ttl} after they make it.</p>
<p class="muted"><a href="${again}">Back to the sign-in page</a></p>`;
}
