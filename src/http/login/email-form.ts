import { html, type SafeHtml } from '../../html.js';
import type { LoginControlInput } from './method.js';

export interface EmailFormOptions {
  /** Where it posts, under the prefix (`/magic_link`, `/basic`). */
  action: string;
  className: string;
  /** The email field's id, unique on the login page. */
  fieldId: string;
  /** `email` for a link sent there, `username` where a password manager should fill it. */
  autocomplete: 'email' | 'username';
  /** Id of the help text under the form, if any. */
  describedBy?: string;
  autofocus?: boolean;
}

/**
 * The opening of a login form that POSTs an email address: the CSRF token and `rd` as hidden
 * fields, then the labelled email field filled in again after an error. The caller adds its own
 * fields and closes the form.
 */
export function emailFormOpening(input: LoginControlInput, form: EmailFormOptions): SafeHtml {
  const describedBy = form.describedBy ? html` aria-describedby="${form.describedBy}"` : '';
  // The address is the account name; `webauthn` (last, HTML autofill grammar) lets the browser
  // list passkeys in this field's autofill too.
  const autocomplete = input.webauthnAutofill ? 'username webauthn' : form.autocomplete;
  return html`<form method="post" action="${input.prefix}${form.action}" class="${form.className}">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="rd" value="${input.rd}">
<label for="${form.fieldId}">Email address</label>
<input id="${form.fieldId}" name="email" type="email" inputmode="email" autocomplete="${autocomplete}" autocapitalize="none" spellcheck="false" required maxlength="254" value="${input.email ?? ''}"${describedBy}${form.autofocus ? html` autofocus` : ''}>`;
}

/** What goes back into the email field after an error: never more than an address can be. */
export function typedEmail(value: string | null): string {
  return (value ?? '').trim().slice(0, 254);
}
