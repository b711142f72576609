import { html } from '../../html.js';
import type { MagicLinkRequests } from '../../login/magic-link/request-link.js';
import { describeDuration } from '../../mail/describe-duration.js';
import { handleMagicLinkRequest } from './magic-link-request.js';
import type { LoginControlInput, LoginMethod } from './method.js';

/** Email magic link: the address field and "Send Magic Link", posting to `/magic_link`. */
export function createMagicLinkMethod(requests: MagicLinkRequests, ttlMs: number): LoginMethod {
  const help = requests.delivers
    ? `We email you a link that signs you in. It works once and expires in ${describeDuration(ttlMs)}.`
    : 'An administrator will hand you a sign-in link for this address.';
  return {
    id: 'magic_link',
    label: 'Email link',
    renderControl: (
      input: LoginControlInput,
    ) => html`<form method="post" action="${input.prefix}/magic_link" class="method">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="rd" value="${input.rd}">
<label for="magic-email">Email address</label>
<input id="magic-email" name="email" type="email" inputmode="email" autocomplete="email" autocapitalize="none" spellcheck="false" required maxlength="254" value="${input.email ?? ''}" aria-describedby="magic-email-help" autofocus>
<button type="submit">Send Magic Link</button>
<p id="magic-email-help" class="muted">${help}</p>
</form>`,
    routes: [{ path: '/magic_link', POST: handleMagicLinkRequest(requests) }],
  };
}
