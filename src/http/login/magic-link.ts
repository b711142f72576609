import { html } from '../../html.js';
import { describeDuration } from '../../mail/describe-duration.js';
import { emailFormOpening } from './email-form.js';
import { handleMagicLinkRequest, type MagicLinkRequestDeps } from './magic-link-request.js';
import type { EmailChoice, LoginControlInput, LoginMethod } from './method.js';

/** Email magic link: "Email me a sign-in link", posting the address to `/magic_link`. */
export function createMagicLinkMethod(deps: MagicLinkRequestDeps): LoginMethod {
  const choice: EmailChoice = deps.requests.delivers
    ? {
        action: '/magic_link',
        label: 'Email me a sign-in link',
        help: `We email you a link that signs you in. It works once and expires in ${describeDuration(deps.ttlMs)}.`,
      }
    : {
        action: '/magic_link',
        label: 'Ask for a sign-in link',
        help: 'An administrator will hand you a sign-in link for this address.',
      };
  return {
    id: 'magic_link',
    label: 'Email link',
    // The login page shows this as a button of its one email form; `renderControl` is the
    // form on its own (the step-up page asks for a fresh link with it).
    emailChoice: choice,
    renderControl: (input: LoginControlInput) => html`${emailFormOpening(input, {
      action: choice.action,
      className: 'method',
      fieldId: 'magic-email',
      autocomplete: 'email',
      describedBy: 'magic-email-help',
      autofocus: input.autofocus ?? true,
    })}
<button type="submit">${choice.label}</button>
<p id="magic-email-help" class="muted">${choice.help}</p>
</form>`,
    routes: [{ path: '/magic_link', POST: handleMagicLinkRequest(deps) }],
  };
}
