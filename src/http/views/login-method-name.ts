/**
 * How a session's sign-in method is named to a person: `magic_link` → "Email link", `oidc` →
 * `auth.oidc.display_name` when the page knows it. An id we do not know is shown as it is.
 */
export function loginMethodName(method: string, oidcName = 'Single sign-on'): string {
  switch (method) {
    case 'magic_link':
      return 'Email link';
    case 'google_oauth':
      return 'Google';
    case 'oidc':
      return oidcName;
    case 'basic':
      return 'Password';
    case 'passkey':
      return 'Passkey';
    default:
      return method;
  }
}
