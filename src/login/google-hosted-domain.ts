import type { VerifiedClaims } from './oidc-flow.js';

/**
 * Google Workspace limits: with `hosted_domains` set, both the `hd` claim (which Google sets only
 * for Workspace accounts, from the domain it manages) and the address's own domain must be
 * listed. `hd` alone would admit a Workspace user's secondary address at another domain; the
 * email domain alone would admit a consumer Google account made for a company address.
 */
export function checkHostedDomain(
  claims: VerifiedClaims,
  hostedDomains: readonly string[],
): string | null {
  if (hostedDomains.length === 0) return null;
  const allowed = new Set(hostedDomains.map((d) => d.toLowerCase().replace(/\.$/, '')));
  const hd = typeof claims.raw.hd === 'string' ? claims.raw.hd.toLowerCase() : null;
  const emailDomain = claims.email.slice(claims.email.lastIndexOf('@') + 1);
  if (hd !== null && allowed.has(hd) && allowed.has(emailDomain)) return null;
  return `Sign in with a Google account of ${[...allowed].join(' or ')}. The account you chose (${claims.email}) is not one.`;
}
