import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type AccountClaims, type ClientMetadata } from 'oidc-provider';
import { pino } from 'pino';
import { type App, startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Clock } from '../../src/core/clock.js';
import { TEST_SECRET, writeConfig } from './app.js';
import { freePort } from './ports.js';

/**
 * A real OpenID Provider (node-oidc-provider) in the test process, on a loopback port, with its
 * development login and consent pages. Log in as any key of `accounts` (which is also the `sub`
 * the provider asserts); any password works.
 */
export type TestAccount = Omit<AccountClaims, 'sub'>;

export const CLIENTS = {
  /** Confidential, PKCE required: what portcullis is configured with. */
  portcullis: { id: 'portcullis', secret: 'portcullis-secret-0123456789' },
  /** Confidential, PKCE not required: for `pkce: false`. */
  noPkce: { id: 'portcullis-nopkce', secret: 'nopkce-secret-0123456789' },
  /** Another relying party at the same provider: its tokens must never sign anyone in to us. */
  other: { id: 'other-app', secret: 'other-secret-0123456789' },
} as const;

export const OTHER_REDIRECT = 'http://127.0.0.1:9/other-callback';

export interface ProviderOptions {
  /** The redirect URIs portcullis uses (`<public_url>/auth/oidc`, `/auth/google`). */
  redirectUris: string[];
  accounts: Record<string, TestAccount>;
  /**
   * true (the provider's default, like Okta): profile claims only from userinfo. false (like
   * Google): email, groups and `hd` in the ID token itself.
   */
  conformIdTokenClaims?: boolean;
  idTokenTtlSeconds?: number;
  port?: number;
}

export interface TestProvider {
  issuer: string;
  port: number;
  /** Requests seen, by path (`/jwks`, `/token`, `/.well-known/openid-configuration`, …). */
  hits: Map<string, number>;
  /** Rewrites token endpoint answers before they leave (a provider that misbehaves). */
  tamperToken: ((body: Record<string, unknown>) => Record<string, unknown>) | null;
  /** The kid of the key that signs now. */
  signingKid: string;
  stop(): Promise<void>;
  /** Starts again on the same port and issuer; with `rotateKeys`, signs with a new key. */
  restart(options?: { rotateKeys?: boolean }): Promise<void>;
}

async function signingKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

export async function startOidcProvider(options: ProviderOptions): Promise<TestProvider> {
  const port = options.port ?? (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const hits = new Map<string, number>();
  let generation = 1;
  let keys: JWK[] = [await signingKey(`key-${generation}`)];
  let server: Server | null = null;

  const state: TestProvider = {
    issuer,
    port,
    hits,
    tamperToken: null,
    signingKid: `key-${generation}`,
    stop: async () => {
      const current = server;
      server = null;
      if (!current) return;
      await new Promise<void>((resolve) => {
        current.close(() => resolve());
        current.closeAllConnections();
      });
    },
    restart: async (restart = {}) => {
      await state.stop();
      if (restart.rotateKeys) {
        generation += 1;
        keys = [await signingKey(`key-${generation}`)];
        state.signingKid = `key-${generation}`;
      }
      await listen();
    },
  };

  const clients: ClientMetadata[] = [
    {
      client_id: CLIENTS.portcullis.id,
      client_secret: CLIENTS.portcullis.secret,
      redirect_uris: options.redirectUris,
    },
    {
      client_id: CLIENTS.noPkce.id,
      client_secret: CLIENTS.noPkce.secret,
      redirect_uris: options.redirectUris,
    },
    {
      client_id: CLIENTS.other.id,
      client_secret: CLIENTS.other.secret,
      redirect_uris: [OTHER_REDIRECT],
    },
  ];

  const listen = async () => {
    const provider = new Provider(issuer, {
      clients,
      jwks: { keys },
      cookies: { keys: ['test-cookie-key-0123456789'] },
      conformIdTokenClaims: options.conformIdTokenClaims ?? true,
      claims: {
        openid: ['sub', 'hd'],
        email: ['email', 'email_verified'],
        profile: ['name', 'given_name', 'family_name', 'preferred_username'],
        groups: ['groups'],
      },
      pkce: { required: (_ctx, client) => client.clientId !== CLIENTS.noPkce.id },
      ttl: { IdToken: options.idTokenTtlSeconds ?? 3600 },
      findAccount: (_ctx, id) => {
        const account = options.accounts[id];
        if (!account) return undefined;
        return { accountId: id, claims: () => ({ ...account, sub: id }) };
      },
    });
    // A silent provider: its errors reach the relying party, which is what the tests look at.
    provider.on('server_error', () => {});
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path === '/token' && state.tamperToken && ctx.status === 200) {
        ctx.body = state.tamperToken(ctx.body as Record<string, unknown>);
      }
    });
    const handler = provider.callback();
    server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] as string;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      handler(req, res);
    });
    const current = server;
    await new Promise<void>((resolve, reject) => {
      current.once('error', reject);
      current.listen(port, '127.0.0.1', () => resolve());
    });
  };

  await listen();
  return state;
}

let clients = 0;

/**
 * Cookies per origin, enough for one browser-like walk through the provider and the app. Each
 * jar is its own client: it sends its own address in X-Forwarded-For (loopback is a trusted
 * proxy), so per-address limits apply per jar as they would per browser.
 */
export class CookieJar {
  private readonly jars = new Map<string, Map<string, string>>();
  readonly ip: string;

  constructor() {
    clients += 1;
    this.ip = `10.77.${Math.floor(clients / 250) % 250}.${(clients % 250) + 1}`;
  }

  header(url: string): string {
    const jar = this.jars.get(new URL(url).origin);
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  get(url: string, name: string): string | undefined {
    return this.jars.get(new URL(url).origin)?.get(name);
  }

  set(url: string, name: string, value: string): void {
    const origin = new URL(url).origin;
    let jar = this.jars.get(origin);
    if (!jar) {
      jar = new Map();
      this.jars.set(origin, jar);
    }
    jar.set(name, value);
  }

  delete(url: string, name: string): void {
    this.jars.get(new URL(url).origin)?.delete(name);
  }

  store(url: string, response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = (pair ?? '').indexOf('=');
      if (eq < 1) continue;
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      const gone =
        value === '' ||
        attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) ||
        attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (gone) this.delete(url, name);
      else this.set(url, name, value);
    }
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.header(url);
    if (cookie) headers.set('cookie', cookie);
    if (!headers.has('x-forwarded-for')) headers.set('x-forwarded-for', this.ip);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.store(url, response);
    return response;
  }
}

function formAction(page: string, base: string): string {
  const match = /<form[^>]*action="([^"]+)"/.exec(page);
  if (!match) throw new Error(`no form on provider page: ${page.slice(0, 300)}`);
  return new URL((match[1] as string).replace(/&amp;/g, '&'), base).href;
}

/**
 * Walks the provider's real pages from an authorization URL: the login form (as `login`), then
 * consent, following redirects, until the provider sends the browser to a URL that does not
 * belong to it. Returns that URL (the callback, with code/state or error) without visiting it.
 * `abort` presses the login page's cancel link instead of signing in.
 */
export async function signInAtProvider(
  jar: CookieJar,
  authorizationUrl: string,
  login: string,
  options: { abort?: boolean } = {},
): Promise<string> {
  const issuerOrigin = new URL(authorizationUrl).origin;
  let url = authorizationUrl;
  let init: RequestInit = {};
  for (let step = 0; step < 20; step++) {
    const response = await jar.fetch(url, init);
    init = {};
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, url).href;
      if (new URL(next).origin !== issuerOrigin) return next;
      url = next;
      continue;
    }
    const page = await response.text();
    if (response.status !== 200)
      throw new Error(`provider answered ${response.status}: ${page.slice(0, 300)}`);
    if (page.includes('name="login"')) {
      if (options.abort) {
        const abort = /href="([^"]*\/abort)"/.exec(page);
        if (!abort) throw new Error('no abort link on the login page');
        url = new URL(abort[1] as string, url).href;
        continue;
      }
      url = formAction(page, url);
      init = {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ prompt: 'login', login, password: 'any' }).toString(),
      };
      continue;
    }
    if (page.includes('name="prompt" value="consent"')) {
      url = formAction(page, url);
      init = {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ prompt: 'consent' }).toString(),
      };
      continue;
    }
    throw new Error(`unexpected provider page: ${page.slice(0, 300)}`);
  }
  throw new Error('too many steps at the provider');
}

/** A clock that runs with real time, moved by hand: ID token expiry without sleeping. */
export class OffsetClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

export interface SsoApp extends App {
  /** Structured log lines the app wrote (info and up). */
  logs: Record<string, unknown>[];
}

/**
 * Starts portcullis on `port` with `public_url` http://127.0.0.1:<port>, so the redirect URIs
 * registered at the provider are real; the secret key and test defaults are filled in.
 */
export async function startSsoApp(
  port: number,
  config: Record<string, unknown>,
  options: { clock?: Clock; env?: Record<string, string | undefined> } = {},
): Promise<SsoApp> {
  const auth = (config.auth as Record<string, unknown> | undefined) ?? {};
  const server = (config.server as Record<string, unknown> | undefined) ?? {};
  const full = {
    ...config,
    server: { public_url: `http://127.0.0.1:${port}`, ...server },
    auth: { secret_key: TEST_SECRET, ...auth },
    log: { level: 'info' },
  };
  const loaded = loadConfig({ path: writeConfig(full), env: options.env ?? {} });
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  const app = await startApp(loaded, {
    ...(options.clock ? { clock: options.clock } : {}),
    logger,
    listen: { host: '127.0.0.1', port },
  });
  return { ...app, logs };
}

/** A tuple of `N` numbers, so `const [a, b] = ports` needs no cast. */
type Ports<N extends number, T extends number[] = []> = T['length'] extends N
  ? T
  : Ports<N, [...T, number]>;

/**
 * Takes a free port for each of `apps` portcullis instances and starts the provider with their
 * callback URLs registered (each of `callbacks` on each port, default `/auth/oidc`). Start the
 * apps on the returned ports with `startSsoApp`.
 */
export async function startProviderForApps<N extends number>(
  apps: N,
  options: Omit<ProviderOptions, 'redirectUris' | 'port'> & { callbacks?: string[] },
): Promise<{ provider: TestProvider; ports: Ports<N> }> {
  const { callbacks = ['/auth/oidc'], ...rest } = options;
  const ports: number[] = [];
  for (let i = 0; i < apps; i++) ports.push(await freePort());
  const provider = await startOidcProvider({
    ...rest,
    redirectUris: ports.flatMap((p) => callbacks.map((path) => `http://127.0.0.1:${p}${path}`)),
  });
  return { provider, ports: ports as Ports<N> };
}

/** The `auth.oidc` block for the `portcullis` client at `issuer`, asking for groups too. */
export function oidcClientConfig(issuer: string, overrides: Record<string, unknown> = {}) {
  return {
    issuer,
    client_id: CLIENTS.portcullis.id,
    client_secret: CLIENTS.portcullis.secret,
    scopes: ['openid', 'email', 'profile', 'groups'],
    display_name: 'Test SSO',
    ...overrides,
  };
}
