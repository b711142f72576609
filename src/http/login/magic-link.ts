import { html } from '../../html.js';
import { describeDuration } from '../../mail/describe-duration.js';
import { emailFormOpening } from './email-form.js';
import { handleMagicLinkRequest, type MagicLinkRequestDeps } from './magic-link-request.js';
import type { LoginControlInput, LoginMethod } from './method.js';

/** Email magic link: the address field and "Send Magic Link", posting to `/magic_link`. */
export function createMagicLinkMethod(deps: MagicLinkRequestDeps): LoginMethod {
  const help = deps.requests.delivers
    ? `We email you a link that signs you in. It works once and expires in ${describeDuration(deps.ttlMs)}.`
    : 'An administrator will hand you a sign-in link for this address.';
  return {
    id: 'magic_link',
    label: 'Email link',
    renderControl: (input: LoginControlInput) => html`${emailFormOpening(input, {
      action: '/magic_link',
      className: 'method',
      fieldId: 'magic-email',
      autocomplete: 'email',
      describedBy: 'magic-email-help',
      autofocus: true,
    })}
<button type="submit">Send Magic Link</button>
<p id="magic-email-help" class="muted">${help}</p>
</form>`,
    routes: [{ path: '/magic_link', POST: handleMagicLinkRequest(deps) }],
  };
}
