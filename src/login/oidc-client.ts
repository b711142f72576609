import * as oidc from 'openid-client';
import type { Clock } from '../core/clock.js';

/** One OpenID Provider as portcullis talks to it (an `auth.oidc` or `auth.google_oauth` block). */
export interface OidcProviderSettings {
  issuer: string;
  clientId: string;
  clientSecret: string | null;
  /** `<public_url>/auth/<strategy>`: what is registered at the provider. */
  redirectUri: string;
  scopes: readonly string[];
  pkce: boolean;
}

export interface OidcClientOptions {
  clock: Clock;
  /** Outbound HTTP; tests inject one to play a network attacker. Defaults to global fetch. */
  fetch?: oidc.CustomFetch;
  /** How long a discovery document is trusted before it is fetched again. */
  discoveryTtlMs?: number;
  /** Per-request timeout towards the provider, in seconds. */
  timeoutSeconds?: number;
}

/** What the callback must present again: the values that were sent in the authorization request. */
export interface FlowChecks {
  state: string;
  nonce: string;
  /** Null with `pkce: false`. */
  verifier: string | null;
}

/** Why talking to the provider failed, in the terms the login page needs. */
export type ProviderFailure =
  /** The provider answered the browser with `error=` (the person cancelled, or it refused). */
  | { kind: 'provider_error'; code: string }
  /** Discovery, token or userinfo endpoint unreachable, slow, or not answering OAuth. */
  | { kind: 'unreachable'; detail: string }
  /** A response that failed a check: state, iss, nonce, audience, expiry, signature, bad code. */
  | { kind: 'rejected'; detail: string };

export class ProviderError extends Error {
  constructor(readonly failure: ProviderFailure) {
    super(failure.kind === 'provider_error' ? `provider error ${failure.code}` : failure.detail);
    this.name = 'ProviderError';
  }
}

type JwksCache = NonNullable<ReturnType<typeof oidc.getJwksCache>>;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Reads the `kid` of the ID token in a token endpoint answer without consuming the answer. */
async function idTokenKid(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.clone().json()) as { id_token?: unknown };
    if (typeof body.id_token !== 'string') return undefined;
    const header = JSON.parse(
      Buffer.from(body.id_token.split('.')[0] ?? '', 'base64url').toString('utf8'),
    ) as { kid?: unknown };
    return typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The relying-party side of the authorization code flow, on openid-client v6.
 *
 * Discovery is fetched once and kept for `discoveryTtlMs`, and dropped at once when the provider
 * stops answering as it described itself. The provider's signing keys (JWKS) are cached too, but
 * an ID token signed with a key the cache does not know (the provider rotated its keys) makes
 * this exchange fetch the JWKS afresh instead of failing.
 *
 * ID tokens are checked by openid-client (issuer, audience, azp, expiry, iat, nonce) and, because
 * we also ask for non-repudiation checks, their signature against the JWKS: OIDC Core §3.1.3.7
 * lets a client rely on TLS instead, but an `http://` issuer on a private network has no TLS.
 * Every check runs on the injected clock (openid-client's `clockSkew` is set per exchange).
 */
export class OidcClient {
  private discovered: { metadata: oidc.ServerMetadata; at: number } | null = null;
  private discovering: Promise<oidc.ServerMetadata> | null = null;
  private jwks: JwksCache | undefined;
  private readonly insecure: boolean;
  private readonly fetchImpl: oidc.CustomFetch;
  private readonly ttlMs: number;
  private readonly timeout: number;

  constructor(
    readonly settings: OidcProviderSettings,
    private readonly options: OidcClientOptions,
  ) {
    const url = new URL(settings.issuer);
    this.insecure = url.protocol === 'http:';
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.ttlMs = options.discoveryTtlMs ?? 3_600_000;
    this.timeout = options.timeoutSeconds ?? 10;
  }

  /** True when the issuer is plain http on a host other than loopback (worth a loud warning). */
  get insecureRemote(): boolean {
    return this.insecure && !LOOPBACK.has(new URL(this.settings.issuer).host.replace(/:\d+$/, ''));
  }

  /** Drops the cached discovery document and keys; the next sign-in fetches them again. */
  forget(): void {
    this.discovered = null;
    this.jwks = undefined;
  }

  private async metadata(): Promise<oidc.ServerMetadata> {
    const now = this.options.clock.now();
    if (this.discovered && now - this.discovered.at < this.ttlMs) return this.discovered.metadata;
    // One discovery at a time: a burst of sign-ins after a restart asks the provider once.
    this.discovering ??= this.discover().finally(() => {
      this.discovering = null;
    });
    return this.discovering;
  }

  private async discover(): Promise<oidc.ServerMetadata> {
    try {
      const config = await oidc.discovery(
        new URL(this.settings.issuer),
        this.settings.clientId,
        this.settings.clientSecret ?? undefined,
        undefined,
        {
          execute: this.insecure ? [oidc.allowInsecureRequests] : [],
          [oidc.customFetch]: this.fetchImpl,
          timeout: this.timeout,
        },
      );
      const metadata = config.serverMetadata();
      if (!metadata.authorization_endpoint || !metadata.token_endpoint)
        throw new Error('discovery document lacks authorization or token endpoint');
      this.discovered = { metadata, at: this.options.clock.now() };
      return metadata;
    } catch (error) {
      throw new ProviderError({ kind: 'unreachable', detail: `discovery: ${describe(error)}` });
    }
  }

  /** A Configuration for one exchange, with openid-client's clock moved onto ours. */
  private configuration(metadata: oidc.ServerMetadata): oidc.Configuration {
    const skewSeconds = Math.round((this.options.clock.now() - Date.now()) / 1000);
    const config = new oidc.Configuration(
      metadata,
      this.settings.clientId,
      { [oidc.clockSkew]: skewSeconds },
      clientAuthentication(metadata, this.settings.clientSecret),
    );
    if (this.insecure) oidc.allowInsecureRequests(config);
    config.timeout = this.timeout;
    oidc.enableNonRepudiationChecks(config);
    return config;
  }

  /** Where to send the browser. `extra` adds provider-specific parameters (Google's `hd`). */
  async authorizationUrl(
    checks: FlowChecks,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<URL> {
    const metadata = await this.metadata();
    const params: Record<string, string> = {
      ...extra,
      redirect_uri: this.settings.redirectUri,
      response_type: 'code',
      scope: this.settings.scopes.join(' '),
      state: checks.state,
      nonce: checks.nonce,
    };
    if (checks.verifier !== null) {
      params.code_challenge = await oidc.calculatePKCECodeChallenge(checks.verifier);
      params.code_challenge_method = 'S256';
    }
    return oidc.buildAuthorizationUrl(this.configuration(metadata), params);
  }

  /**
   * Validates the callback, redeems the code, checks the ID token and returns its claims, with
   * the userinfo endpoint's answer underneath when the ID token lacks `email` or a wanted claim
   * (Okta and node-oidc-provider keep ID tokens thin and put profile claims in userinfo).
   */
  async redeem(
    callback: URL,
    checks: FlowChecks,
    wanted: readonly string[] = [],
  ): Promise<Record<string, unknown>> {
    const metadata = await this.metadata();
    const config = this.configuration(metadata);
    const known = this.jwks;
    config[oidc.customFetch] = async (url, init) => {
      const response = await this.fetchImpl(url, init);
      // Reuse the cached keys only when they hold the key this ID token names.
      if (known && url === metadata.token_endpoint && response.ok) {
        const kid = await idTokenKid(response);
        if (kid === undefined || known.jwks.keys.some((key) => key.kid === kid))
          oidc.setJwksCache(config, known);
      }
      return response;
    };
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callback, {
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
        ...(checks.verifier !== null ? { pkceCodeVerifier: checks.verifier } : {}),
      });
    } catch (error) {
      throw this.classify(error);
    }
    this.jwks = oidc.getJwksCache(config) ?? this.jwks;
    const claims = tokens.claims();
    if (!claims) throw new ProviderError({ kind: 'rejected', detail: 'no ID token' });
    const idClaims: Record<string, unknown> = { ...claims };
    const missing = ['email', 'email_verified', ...wanted].some((name) => !(name in idClaims));
    if (!missing || !metadata.userinfo_endpoint) return idClaims;
    let userinfo: Record<string, unknown>;
    try {
      userinfo = { ...(await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)) };
    } catch (error) {
      throw this.classify(error);
    }
    // The ID token is the signed statement: where both say something, it wins.
    return { ...userinfo, ...idClaims };
  }

  private classify(error: unknown): ProviderError {
    if (error instanceof ProviderError) return error;
    if (error instanceof oidc.AuthorizationResponseError) {
      return new ProviderError({ kind: 'provider_error', code: error.error });
    }
    if (error instanceof oidc.ResponseBodyError) {
      // invalid_grant: a used, expired or foreign code, or a PKCE verifier that does not match.
      return new ProviderError({ kind: 'rejected', detail: `token endpoint: ${error.error}` });
    }
    if (error instanceof oidc.ClientError) {
      const code = error.code ?? '';
      if (/RESPONSE_IS_NOT|HTTP_REQUEST_FORBIDDEN|PARSE_ERROR/.test(code)) {
        // The provider no longer answers as its discovery document said: look again next time.
        this.forget();
        return new ProviderError({ kind: 'unreachable', detail: `${code}: ${error.message}` });
      }
      return new ProviderError({ kind: 'rejected', detail: `${code}: ${describe(error)}` });
    }
    // fetch failed, timed out, or the connection was refused.
    this.forget();
    return new ProviderError({ kind: 'unreachable', detail: describe(error) });
  }
}

/**
 * `client_secret_basic` unless the provider lists only `client_secret_post`: basic is the
 * registration default (OIDC Registration §2, RFC 8414 §2), so it is what an admin who left the
 * setting alone has registered. No secret: a public client (PKCE is its proof).
 */
function clientAuthentication(
  metadata: oidc.ServerMetadata,
  secret: string | null,
): oidc.ClientAuth {
  if (!secret) return oidc.None();
  const supported = metadata.token_endpoint_auth_methods_supported;
  if (
    supported &&
    !supported.includes('client_secret_basic') &&
    supported.includes('client_secret_post')
  )
    return oidc.ClientSecretPost(secret);
  return oidc.ClientSecretBasic(secret);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`.slice(0, 500);
}
