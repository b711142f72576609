import type { LoginMethod } from './method.js';
import { createOidcLoginMethod, type OidcMethodDeps } from './oidc.js';
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

/** `auth.google_oauth`: OIDC with Google's issuer, `GOOGLE_CLIENT_ID`/`_SECRET`, and `hd` checks. */
export function createGoogleMethod(deps: OidcMethodDeps): LoginMethod {
  const settings = deps.config.raw.auth.google_oauth;
  if (!settings.client_id) throw new Error('auth.google_oauth.client_id is required');
  const hostedDomains = settings.hosted_domains;
  return createOidcLoginMethod(deps, {
    id: 'google_oauth',
    path: '/google',
    displayName: settings.display_name ?? 'Google',
    issuer: settings.issuer,
    clientId: settings.client_id,
    clientSecret: settings.client_secret ?? null,
    scopes: settings.scopes,
    pkce: settings.pkce,
    groupsClaim: null,
    // A hint only (Google's account chooser shows that domain); the claims are what count.
    authorizationParams: hostedDomains.length === 1 ? { hd: hostedDomains[0] as string } : {},
    checkClaims: (claims) => checkHostedDomain(claims, hostedDomains),
    linkByEmail: settings.link_by_email,
  });
}
