import type { Config } from '../config/load.js';
import type { LoginMethod } from '../http/login/method.js';
import type { OidcMethodOptions } from '../http/login/oidc.js';
import { checkHostedDomain } from '../login/google-hosted-domain.js';
import { RateLimiter } from '../services/rate-limit.js';
import type { LoginParts } from './login-methods.js';

/** What `auth.oidc` and `auth.google_oauth` have in common. */
interface ProviderSettings {
  display_name?: string | undefined;
  client_id?: string | undefined;
  client_secret?: string | undefined;
  scopes: string[];
  pkce: boolean;
  link_by_email: boolean;
}

/** Each provider-backed method's path and the name its button has unless `display_name` says. */
const PROVIDERS = {
  google_oauth: { path: '/google', displayName: 'Google' },
  oidc: { path: '/oidc', displayName: 'single sign-on' },
} as const;

/** The options one provider's settings give, before what is particular to the method. */
function providerOptions(
  id: keyof typeof PROVIDERS,
  settings: ProviderSettings,
  issuer: string,
): OidcMethodOptions {
  // check-config demands these when the method is enabled; reaching here is a programming error.
  if (!settings.client_id) throw new Error(`auth.${id}.client_id is required`);
  return {
    id,
    path: PROVIDERS[id].path,
    displayName: settings.display_name ?? PROVIDERS[id].displayName,
    issuer,
    clientId: settings.client_id,
    clientSecret: settings.client_secret ?? null,
    scopes: settings.scopes,
    pkce: settings.pkce,
    groupsClaim: null,
    linkByEmail: settings.link_by_email,
  };
}

/** `auth.google_oauth`: OIDC with Google's issuer, `GOOGLE_CLIENT_ID`/`_SECRET`, and `hd` checks. */
export function googleOptions(config: Config): OidcMethodOptions {
  const settings = config.raw.auth.google_oauth;
  const hostedDomains = settings.hosted_domains;
  return {
    ...providerOptions('google_oauth', settings, settings.issuer),
    // A hint only (Google's account chooser shows that domain); the claims are what count.
    authorizationParams: hostedDomains.length === 1 ? { hd: hostedDomains[0] as string } : {},
    checkClaims: (claims) => checkHostedDomain(claims, hostedDomains),
  };
}

/** `auth.oidc`: any OpenID Provider (Okta, Entra ID, Keycloak, Authentik, Dex, …). */
export function oidcOptions(config: Config): OidcMethodOptions {
  const settings = config.raw.auth.oidc;
  if (!settings.issuer) throw new Error('auth.oidc.issuer is required');
  return {
    ...providerOptions('oidc', settings, settings.issuer),
    groupsClaim: settings.groups_claim,
  };
}

/** One OIDC-based method: its client, flow and start limiter, and its routes. */
export async function buildOidcMethod(
  config: Config,
  parts: LoginParts,
  options: OidcMethodOptions,
): Promise<LoginMethod> {
  const { OidcClient } = await import('../login/oidc-client.js');
  const { OidcFlow } = await import('../login/oidc-flow.js');
  const { signInWithClaims } = await import('../login/oidc-signin.js');
  const { createOidcLoginMethod } = await import('../http/login/oidc.js');
  const { store, clock, logger } = parts;
  // `<public_url>/auth/<strategy>`: where the provider sends the browser back.
  const redirectUri = `${parts.baseUrl}${options.path}`;
  const client = new OidcClient(
    {
      issuer: options.issuer,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      redirectUri,
      scopes: options.scopes,
      pkce: options.pkce,
    },
    { clock },
  );
  if (client.insecureRemote) {
    logger.warn(
      { method: options.id, issuer: options.issuer },
      'the OIDC issuer is plain http on a non-loopback host: tokens cross the network unencrypted',
    );
  }
  const rules = {
    account: {
      signup: config.raw.auth.signup,
      allowedDomains: config.raw.auth.allowed_domains,
      linkByEmail: options.linkByEmail,
    },
    groupsClaim: options.groupsClaim,
    checkClaims: options.checkClaims,
  };
  return createOidcLoginMethod({
    options,
    redirectUri,
    flow: new OidcFlow(options.id, client, store, clock),
    limiter: new RateLimiter(store, clock),
    signIn: (claims) => signInWithClaims(store, clock, rules, claims),
    accounts: store,
    sessions: parts.sessions,
    audit: parts.audit,
    logger,
    proxies: parts.proxies,
    redirectPolicy: parts.redirectPolicy,
    secureCookies: config.secureCookies,
    prefix: config.prefix,
    loginPage: parts.loginPage,
    finish: parts.finish,
  });
}
