import { cookieDomainProblem } from '../core/public-suffix.js';
import type { ConfigIssue } from './issues.js';
import type { RawConfig } from './schema.js';

/**
 * `auth.passkey`: WebAuthn binds every credential to its relying-party ID, which must be the
 * host people reach portcullis on or a registrable domain above it (WebAuthn §5.1.3 / HTML's
 * "registrable domain suffix"); browsers refuse anything else, so a wrong value is a config
 * error, not a sign-in that fails for everyone later. WebAuthn also needs a secure context:
 * https, or localhost.
 */
export function passkeyIssues(
  auth: RawConfig['auth'],
  publicUrl: string | undefined,
  issues: ConfigIssue[],
  warnings: string[],
): void {
  if (!auth.enabled_auth.includes('passkey') || publicUrl === undefined) return;
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    return; // server.public_url reports its own problem
  }
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const local = host === 'localhost' || host.endsWith('.localhost');
  if (url.protocol !== 'https:' && !local) {
    warnings.push(
      `passkeys need https: browsers offer WebAuthn only on https or localhost, and server.public_url is ${url.origin}`,
    );
  }
  const rpId = auth.passkey.rp_id?.toLowerCase().replace(/\.$/, '');
  if (rpId === undefined || rpId === host) return;
  if (!host.endsWith(`.${rpId}`)) {
    issues.push({
      path: 'auth.passkey.rp_id',
      message: `must be ${host} (server.public_url's host) or a domain above it, such as ${host.split('.').slice(1).join('.') || host}`,
    });
    return;
  }
  const problem = cookieDomainProblem(rpId);
  if (problem) issues.push({ path: 'auth.passkey.rp_id', message: problem });
}

/**
 * A rule whose `require` no enabled method can meet locks everyone out of it, silently: a
 * passkey needs `passkey` in enabled_auth; mfa needs a passkey or TOTP (basic with
 * second_factor not off).
 */
export function requireIssues(
  auth: RawConfig['auth'],
  rules: RawConfig['access']['rules'],
  issues: ConfigIssue[],
): void {
  const passkey = auth.enabled_auth.includes('passkey');
  const totp = auth.enabled_auth.includes('basic') && auth.basic.second_factor !== 'off';
  rules.forEach((rule, index) => {
    for (const need of rule.require ?? []) {
      if (need === 'passkey' && !passkey) {
        issues.push({
          path: `access.rules[${index}].require`,
          message:
            'asks for a passkey, but passkey is not in auth.enabled_auth: nobody could meet it',
        });
      }
      if (need === 'mfa' && !passkey && !totp) {
        issues.push({
          path: `access.rules[${index}].require`,
          message:
            'asks for a second factor, but neither passkey nor basic with second_factor is enabled: nobody could meet it',
        });
      }
    }
  });
}
