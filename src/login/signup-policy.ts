import type { RawConfig } from '../config/schema.js';

export type SignupPolicy = RawConfig['auth']['signup'];

/** Whether a sign-in link may be made for an address, and whether that makes a new user. */
export type Admission =
  | { kind: 'existing' }
  | { kind: 'create' }
  | { kind: 'refuse'; reason: 'deactivated' | 'not_invited' | 'domain_not_allowed' };

/**
 * `auth.signup` applied to one (normalised) address. Known, active users may always ask for a
 * link, whatever the policy: admins and SCIM add people from any domain.
 */
export function admit(
  email: string,
  existing: { active: boolean } | null,
  policy: SignupPolicy,
  allowedDomains: readonly string[],
): Admission {
  if (existing)
    return existing.active ? { kind: 'existing' } : { kind: 'refuse', reason: 'deactivated' };
  if (policy === 'open') return { kind: 'create' };
  if (policy === 'invite_only') return { kind: 'refuse', reason: 'not_invited' };
  const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
  return domainAllowed(domain, allowedDomains)
    ? { kind: 'create' }
    : { kind: 'refuse', reason: 'domain_not_allowed' };
}

/** `example.com` allows exactly that domain; `*.example.com` allows its subdomains (dot boundary). */
export function domainAllowed(domain: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) => {
    const pattern = entry.toLowerCase().replace(/\.$/, '');
    if (pattern.startsWith('*.')) return domain.endsWith(pattern.slice(1));
    return domain === pattern;
  });
}
