import { checkHostedDomain } from '../../login/google-hosted-domain.js';
import type { LoginMethod } from './method.js';
import { createOidcLoginMethod, type OidcMethodDeps } from './oidc.js';

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
