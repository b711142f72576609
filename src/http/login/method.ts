import type { SafeHtml } from '../../html.js';
import type { LoginMethodId } from '../../login/method-id.js';
import type { Handler } from '../handler.js';

/** A route a login method serves, relative to `server.path_prefix` (`/magic_link`, `/google`). */
export interface LoginRoute {
  path: string;
  GET?: Handler;
  POST?: Handler;
}

/** What a control on the login page needs to know. */
export interface LoginControlInput {
  prefix: string;
  /** Already checked with safeRedirect. */
  rd: string;
  csrf: string;
  /** What the person typed last time, to fill the form in again after an error. */
  email?: string;
  /**
   * Passkeys are enabled: email fields say `autocomplete="username webauthn"` so the browser
   * offers passkeys in their autofill (conditional UI, started by the passkey script).
   */
  webauthnAutofill?: boolean;
  /** Focus the email field on load (default true); false where it is not the page's first offer. */
  autofocus?: boolean;
}

/**
 * One way of signing in (magic link, Google, OIDC, password). The login page shows each enabled
 * method's control in `auth.enabled_auth` order and the router serves each method's routes, so a
 * new method is one new module added to the list in the composition root, not a page change.
 */
export interface LoginMethod {
  readonly id: LoginMethodId;
  /** Short name for logs and headings, e.g. "Email link". */
  readonly label: string;
  /** The method's form or button. Must work without JavaScript, unless `needsScript`. */
  renderControl(input: LoginControlInput): SafeHtml;
  readonly routes: readonly LoginRoute[];
  /**
   * Script URLs of ours the control needs (passkeys: `navigator.credentials` has no HTML form).
   * The login page then loads them, and only then allows scripts (`script-src 'self'`).
   */
  readonly scripts?: readonly string[];
  /**
   * The control starts hidden and its script shows it (when the browser can use it), so the
   * page without JavaScript shows no dead button and no stray "or" beside it.
   */
  readonly needsScript?: boolean;
  /**
   * The method starts from the email address (magic link, password): the login page shows one
   * email field for every such method and this button for each (identifier first), instead of
   * `renderControl`. `renderControl` is then the method's own next step or stand-alone form.
   */
  readonly emailChoice?: EmailChoice;
}

/** A button of the login page's one email form; see `LoginMethod.emailChoice`. */
export interface EmailChoice {
  /** Where the button posts, under the prefix (`/magic_link`, `/basic`). */
  action: string;
  /** The button's words ("Email me a sign-in link"). */
  label: string;
  /** A name and value the button sends along (the form has the email, `rd` and `csrf`). */
  field?: { name: string; value: string };
  /** A sentence under the buttons about this choice. */
  help?: string;
}

/** The implemented methods that `enabled_auth` turns on, in its order. */
export function orderLoginMethods(
  enabled: readonly LoginMethodId[],
  available: readonly LoginMethod[],
): LoginMethod[] {
  const byId = new Map(available.map((method) => [method.id, method]));
  return enabled.flatMap((id) => {
    const method = byId.get(id);
    return method ? [method] : [];
  });
}
