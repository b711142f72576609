import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENTS,
  CookieJar,
  OffsetClock,
  type SsoApp,
  signInAtProvider,
  startProviderForApps,
  startSsoApp,
  type TestAccount,
  type TestProvider,
} from '../helpers/oidc-provider.js';
import { freePort } from '../helpers/ports.js';

/**
 * Discovery and signing keys are cached, refreshed when the provider rotates its keys or the
 * cache ages, and a provider that is down (or answers nonsense) gives a clear page, never a 500;
 * sign-in works again by itself once the provider is back.
 */
const accounts: Record<string, TestAccount> = {
  alice: { email: 'alice@example.com', email_verified: true },
};

let provider: TestProvider;
let app: SsoApp;
const clock = new OffsetClock();
const DISCOVERY = '/.well-known/openid-configuration';

function oidcSettings(issuer: string) {
  return {
    enabled_auth: ['oidc'],
    oidc: {
      issuer,
      client_id: CLIENTS.portcullis.id,
      client_secret: CLIENTS.portcullis.secret,
      display_name: 'Test SSO',
    },
  };
}

beforeAll(async () => {
  const started = await startProviderForApps(1, { accounts });
  provider = started.provider;
  app = await startSsoApp(started.ports[0], { auth: oidcSettings(provider.issuer) }, { clock });
});

afterAll(async () => {
  await app?.close();
  await provider?.stop();
});

async function signIn(target: SsoApp = app) {
  const jar = new CookieJar();
  const start = await jar.fetch(`${target.url}/auth/oidc`);
  expect(start.status).toBe(302);
  const callback = await signInAtProvider(jar, start.headers.get('location') as string, 'alice');
  return { jar, callback, done: await jar.fetch(callback) };
}

function idTokenKidOf(body: Record<string, unknown>): string {
  const header = (body.id_token as string).split('.')[0] as string;
  return (JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string }).kid;
}

describe('discovery and key caching', () => {
  it('discovers once and fetches the keys once for many sign-ins', async () => {
    for (let i = 0; i < 3; i++) expect((await signIn()).done.status).toBe(303);
    expect(provider.hits.get(DISCOVERY)).toBe(1);
    expect(provider.hits.get('/jwks')).toBe(1);
  });

  it('verifies ID token signatures against the provider keys, fetching new keys after a rotation', async () => {
    const kids: string[] = [];
    provider.tamperToken = (body) => {
      kids.push(idTokenKidOf(body));
      return body;
    };
    try {
      const before = provider.signingKid;
      await provider.restart({ rotateKeys: true });
      expect(provider.signingKid).not.toBe(before);
      expect((await signIn()).done.status).toBe(303);
      expect(kids).toEqual([provider.signingKid]);
      expect(provider.hits.get('/jwks')).toBe(2);
      // The new keys are cached in turn.
      expect((await signIn()).done.status).toBe(303);
      expect(provider.hits.get('/jwks')).toBe(2);
    } finally {
      provider.tamperToken = null;
    }
  });

  it('refuses an ID token whose signature does not verify', async () => {
    provider.tamperToken = (body) => {
      const [header, payload, signature] = (body.id_token as string).split('.') as [
        string,
        string,
        string,
      ];
      const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
      return { ...body, id_token: `${header}.${payload}.${flipped}` };
    };
    try {
      const { done } = await signIn();
      expect(done.status).toBe(400);
      expect(await done.text()).toContain('did not pass our checks');
    } finally {
      provider.tamperToken = null;
    }
  });

  it('looks at the discovery document again once it is an hour old', async () => {
    const before = provider.hits.get(DISCOVERY) ?? 0;
    const jar = new CookieJar();
    clock.offsetMs = 59 * 60_000;
    await jar.fetch(`${app.url}/auth/oidc`);
    expect(provider.hits.get(DISCOVERY)).toBe(before);
    clock.offsetMs = 61 * 60_000;
    const start = await jar.fetch(`${app.url}/auth/oidc`);
    clock.offsetMs = 0;
    expect(provider.hits.get(DISCOVERY)).toBe(before + 1);
    const callback = await signInAtProvider(jar, start.headers.get('location') as string, 'alice');
    expect((await jar.fetch(callback)).status).toBe(303);
  });
});

describe('a provider that is down or wrong', () => {
  it('shows a clear page when the provider goes down between start and callback, and recovers', async () => {
    const jar = new CookieJar();
    const start = await jar.fetch(`${app.url}/auth/oidc`);
    const callback = await signInAtProvider(jar, start.headers.get('location') as string, 'alice');
    await provider.stop();
    try {
      const done = await jar.fetch(callback);
      expect(done.status).toBe(502);
      const page = await done.text();
      expect(page).toContain('We could not reach Test SSO just now');
      expect(done.headers.get('set-cookie') ?? '').not.toContain('portcullis_session=');
      // Without the provider there is nowhere to send anyone: the start says so too.
      const again = await fetch(`${app.url}/auth/oidc`);
      expect(again.status).toBe(502);
      expect(await again.text()).toContain('We could not reach Test SSO just now');
    } finally {
      await provider.restart();
    }
    expect((await signIn()).done.status).toBe(303);
  });

  it('shows a clear page when nothing listens at the issuer', async () => {
    const port = await freePort();
    const deadPort = await freePort();
    const dead = await startSsoApp(port, { auth: oidcSettings(`http://127.0.0.1:${deadPort}`) });
    try {
      const response = await fetch(`${dead.url}/auth/oidc?rd=%2Fx`);
      expect(response.status).toBe(502);
      expect(response.headers.get('content-type')).toContain('text/html');
      const page = await response.text();
      expect(page).toContain('We could not reach Test SSO just now');
      expect(page).toContain('action="/auth/oidc"');
      expect(response.headers.get('set-cookie') ?? '').not.toContain('portcullis_oidc=');
    } finally {
      await dead.close();
    }
  });

  it('shows a clear page when the discovery endpoint answers something that is not discovery', async () => {
    const port = await freePort();
    const wrong = await startSsoApp(port, {
      auth: oidcSettings(`${provider.issuer}/not-an-issuer`),
    });
    try {
      const response = await fetch(`${wrong.url}/auth/oidc`);
      expect(response.status).toBe(502);
      expect(await response.text()).toContain('We could not reach Test SSO just now');
    } finally {
      await wrong.close();
    }
  });
});
