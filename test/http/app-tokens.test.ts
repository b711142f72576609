import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ManualClock } from '../../src/core/clock.js';
import { AppTokenService } from '../../src/services/app-tokens.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { describeTarget, type Encoding } from '../helpers/dialect-cases.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { type RawReply, rawRequest } from '../helpers/raw-request.js';

/**
 * App tokens over real sockets (SPEC §3 "Credentials"): every credential form against every
 * forward-auth endpoint and the reverse proxy, the refusals (malformed, unknown, expired,
 * revoked, deactivated user: 401 with a Bearer challenge, never a redirect; outside the scope:
 * 403), a token beside a cookie, the hostile forms of test/fixtures/app-token-credentials.json,
 * and what the upstream sees in proxy mode. Revocation across instances: test/e2e/app-tokens.
 */

const PUBLIC_URL = 'https://auth.example.com';
const DAY = 86_400_000;
const CHALLENGE = 'Bearer realm="portcullis"';
const INVALID = 'Bearer realm="portcullis", error="invalid_token"';

type Wording = 'nginx' | 'traefik';

const DIALECTS: { path: string; encoding: Encoding; wording: Wording; allow: number }[] = [
  { path: '/auth/nginx', encoding: 'original', wording: 'nginx', allow: 200 },
  { path: '/auth/traefik', encoding: 'forwarded', wording: 'traefik', allow: 200 },
  { path: '/oauth2/auth', encoding: 'oauth2', wording: 'nginx', allow: 202 },
  { path: '/api/authz/auth-request', encoding: 'original', wording: 'nginx', allow: 200 },
  { path: '/api/authz/forward-auth', encoding: 'forwarded', wording: 'traefik', allow: 200 },
  { path: '/api/verify', encoding: 'original', wording: 'nginx', allow: 200 },
  { path: '/api/verify', encoding: 'forwarded', wording: 'traefik', allow: 200 },
];

const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');

/** Every place a token may travel (SPEC §3). */
const FORMS: { name: string; headers: (token: string) => [string, string][] }[] = [
  { name: 'Authorization: Bearer', headers: (t) => [['Authorization', `Bearer ${t}`]] },
  { name: 'Basic password', headers: (t) => [['Authorization', `Basic ${b64(`khoj:${t}`)}`]] },
  { name: 'Basic, empty user', headers: (t) => [['Authorization', `Basic ${b64(`:${t}`)}`]] },
  { name: 'Proxy-Authorization: Bearer', headers: (t) => [['Proxy-Authorization', `Bearer ${t}`]] },
  {
    name: 'Proxy-Authorization: Basic',
    headers: (t) => [['Proxy-Authorization', `Basic ${b64(`u:${t}`)}`]],
  },
  { name: 'X-Portcullis-Token', headers: (t) => [['X-Portcullis-Token', t]] },
];

const NAVIGATION: [string, string][] = [
  ['Accept', 'text/html,application/xhtml+xml'],
  ['Sec-Fetch-Mode', 'navigate'],
];

function header(reply: RawReply, name: string): string | undefined {
  return reply.headers.find(([n]) => n === name)?.[1];
}

function all(reply: RawReply, name: string): string[] {
  return reply.headers.filter(([n]) => n === name).map(([, v]) => v);
}

interface Echo {
  method: string;
  url: string;
  headers: [string, string][];
}

function echoOf(reply: RawReply): Echo {
  expect(reply.status, reply.body).toBe(200);
  return JSON.parse(reply.body) as Echo;
}

function echoed(echo: Echo, name: string): string[] {
  return echo.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

interface Fixture {
  tokens: { A: string; B: string };
  cases: {
    why: string;
    headers: Record<string, string | string[]>;
    tokenHeader?: string | null;
    expect: { kind: 'none' | 'token' | 'invalid'; token?: 'A' | 'B'; strip?: string[] };
  }[];
}

const FIXTURE = JSON.parse(
  readFileSync(new URL('../fixtures/app-token-credentials.json', import.meta.url), 'utf8'),
) as Fixture;

function fill(text: string, a: string, b: string): string {
  let out = text.replace(/\{repeat:([^:}]*):(\d+)\}/g, (_m, what: string, n: string) =>
    what.repeat(Number(n)),
  );
  out = out.replaceAll('{A}', a).replaceAll('{B}', b);
  return out.replace(/\{b64:([^}]*)\}/g, (_m, what: string) => b64(what));
}

/** The fixture's header lines with real tokens in place of A and B; arrays become repeated lines. */
function fixtureLines(headers: Record<string, string | string[]>, a: string, b: string) {
  const lines: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) lines.push([name, fill(one, a, b)]);
  }
  return lines;
}

describe('app tokens at the check endpoints and in proxy mode', () => {
  const clock = new ManualClock(Date.now());
  let app: TestApp;
  let proxy: TestApp;
  let upstream: EchoUpstream;
  let service: AppTokenService;
  let proxyService: AppTokenService;
  const tokens: Record<string, string> = {};
  const proxyTokens: Record<string, string> = {};
  let carolCookie = '';
  let aliceName = '';
  let carolName = '';

  const config = {
    server: { public_url: PUBLIC_URL },
    cors: { allowed_origins: ['app://obsidian.md'] },
    access: {
      default_policy: 'authenticated',
      rules: [
        { path: '/public/**', policy: 'bypass' },
        { path: '/admin/**', groups: ['admins'] },
        { path: '/blocked/**', policy: 'deny' },
      ],
    },
  };

  async function mint(
    target: TestApp,
    s: AppTokenService,
    email: string,
    options = {},
  ): Promise<{ token: string; id: string }> {
    const found = await target.ctx.store.getUserByEmail(email);
    if (!found) throw new Error(email);
    const made = await s.create(found.id, 'test', options);
    if (!made.ok) throw new Error(made.message);
    return { token: made.token, id: made.record.id };
  }

  async function seed(
    target: TestApp,
    s: AppTokenService,
    into: Record<string, string>,
  ): Promise<void> {
    for (const email of ['alice@example.com', 'carol@example.com', 'bob@example.com']) {
      await target.ctx.users.findOrCreate(email);
    }
    const carol = await target.ctx.store.getUserByEmail('carol@example.com');
    if (carol) await target.ctx.store.updateUser({ ...carol, groups: ['admins'] });
    into.alice = (await mint(target, s, 'alice@example.com')).token;
    into.carol = (await mint(target, s, 'carol@example.com')).token;
    into.scoped = (
      await mint(target, s, 'alice@example.com', {
        scope: { paths: ['/api/**'], methods: ['GET'] },
      })
    ).token;
    into.expiring = (await mint(target, s, 'alice@example.com', { expiresInMs: DAY })).token;
    const revoked = await mint(target, s, 'alice@example.com');
    into.revoked = revoked.token;
    into.bob = (await mint(target, s, 'bob@example.com')).token;
    // Refused states, made after creation: a revoked token, a deactivated user.
    await s.revoke(revoked.id);
    const bob = await target.ctx.store.getUserByEmail('bob@example.com');
    if (bob) await target.ctx.store.updateUser({ ...bob, active: false });
  }

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp(config, { clock });
    proxy = await startTestApp(
      { ...config, proxy: { upstream: upstream.url }, server: { public_url: 'http://app.test' } },
      { clock },
    );
    service = new AppTokenService(app.ctx.store, app.ctx.store, clock, { maxLifetimeMs: 30 * DAY });
    proxyService = new AppTokenService(proxy.ctx.store, proxy.ctx.store, clock, {
      maxLifetimeMs: 30 * DAY,
    });
    await seed(app, service, tokens);
    await seed(proxy, proxyService, proxyTokens);
    carolCookie = await app.login('carol@example.com');
    aliceName = (await app.ctx.store.getUserByEmail('alice@example.com'))?.username ?? '';
    carolName = (await app.ctx.store.getUserByEmail('carol@example.com'))?.username ?? '';
    clock.advance(DAY + 1000); // `expiring` is now expired; the others last 30 days.
  });

  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await upstream?.close();
  });

  function check(
    dialect: (typeof DIALECTS)[number],
    method: string,
    uri: string,
    extra: [string, string][],
  ): Promise<RawReply> {
    return rawRequest(app.url, 'GET', dialect.path, [
      ...describeTarget(dialect.encoding, method, uri),
      ...extra,
    ]);
  }

  function expectTokenRefusal(reply: RawReply, wording: Wording): void {
    expect(reply.status, reply.body).toBe(401);
    expect(header(reply, 'www-authenticate')).toBe(INVALID);
    expect(header(reply, 'remote-user')).toBeUndefined();
    // Never a Location: nginx's `error_page 401 = @portcullis_401` redirects only on one, and an
    // app or script with a refused token must see the 401 and its challenge.
    expect(header(reply, 'location')).toBeUndefined();
    if (wording === 'traefik') {
      expect(JSON.parse(reply.body)).toMatchObject({ error: 'invalid_token' });
    }
  }

  for (const dialect of DIALECTS) {
    describe(`${dialect.path} (${dialect.encoding})`, () => {
      for (const form of FORMS) {
        it(`accepts a token as ${form.name}, as its user`, async () => {
          const reply = await check(dialect, 'GET', '/notes', form.headers(tokens.alice as string));
          expect(reply.status, reply.body).toBe(dialect.allow);
          expect(header(reply, 'remote-user')).toBe(aliceName);
        });
      }

      it('a token wins over a cookie', async () => {
        const reply = await check(dialect, 'GET', '/notes', [
          ['Authorization', `Bearer ${tokens.alice}`],
          ['Cookie', `portcullis_session=${carolCookie}`],
        ]);
        expect(reply.status).toBe(dialect.allow);
        expect(header(reply, 'remote-user')).toBe(aliceName);
      });

      it('an unusable token is a 401, never a fall-back to the cookie', async () => {
        const reply = await check(dialect, 'GET', '/notes', [
          ['Authorization', `Bearer ${(tokens.alice as string).slice(0, -1)}`],
          ['Cookie', `portcullis_session=${carolCookie}`],
        ]);
        expectTokenRefusal(reply, dialect.wording);
      });

      for (const which of ['revoked', 'expiring', 'bob'] as const) {
        it(`refuses a ${which === 'bob' ? "deactivated user's" : which} token with 401, even to a browser`, async () => {
          const reply = await check(dialect, 'GET', '/notes', [
            ['Authorization', `Bearer ${tokens[which]}`],
            ...NAVIGATION,
          ]);
          expectTokenRefusal(reply, dialect.wording);
        });
      }

      it('refuses an unknown, well-formed token with 401', async () => {
        const unknown = `pcx_${'A'.repeat(42)}A`;
        const reply = await check(dialect, 'POST', '/api/x', [['X-Portcullis-Token', unknown]]);
        expectTokenRefusal(reply, dialect.wording);
      });

      it('a token inside its scope is accepted; outside it is 403', async () => {
        const inside = await check(dialect, 'GET', '/api/search?q=1', [
          ['Authorization', `Bearer ${tokens.scoped}`],
        ]);
        expect(inside.status).toBe(dialect.allow);
        for (const [method, uri] of [
          ['POST', '/api/search'],
          ['GET', '/notes'],
          ['GET', '/API/search'],
        ] as const) {
          const outside = await check(dialect, method, uri, [
            ['Authorization', `Bearer ${tokens.scoped}`],
          ]);
          expect(outside.status, `${method} ${uri}`).toBe(403);
          expect(header(outside, 'remote-user')).toBeUndefined();
        }
      });

      it('the rules still apply to a token: group and deny rules', async () => {
        const admin = await check(dialect, 'GET', '/admin/x', [
          ['Authorization', `Bearer ${tokens.alice}`],
        ]);
        expect(admin.status).toBe(403);
        const carol = await check(dialect, 'GET', '/admin/x', [
          ['Authorization', `Bearer ${tokens.carol}`],
        ]);
        expect(carol.status).toBe(dialect.allow);
        expect(header(carol, 'remote-user')).toBe(carolName);
        const blocked = await check(dialect, 'GET', '/blocked/x', [
          ['Authorization', `Bearer ${tokens.carol}`],
        ]);
        expect(blocked.status).toBe(403);
      });

      it("the app's own Authorization is not ours: the cookie decides", async () => {
        const withCookie = await check(dialect, 'GET', '/notes', [
          ['Authorization', 'Bearer app-own-key'],
          ['Cookie', `portcullis_session=${carolCookie}`],
        ]);
        expect(withCookie.status).toBe(dialect.allow);
        expect(header(withCookie, 'remote-user')).toBe(carolName);
        const without = await check(dialect, 'GET', '/notes', [
          ['Authorization', 'Bearer app-own-key'],
          ['Accept', 'application/json'],
        ]);
        expect(without.status).toBe(401);
        expect(header(without, 'www-authenticate')).toBe(CHALLENGE);
      });

      it('every 401 names the Bearer challenge', async () => {
        const reply = await check(dialect, 'GET', '/notes', [['Accept', 'application/json']]);
        expect(reply.status).toBe(401);
        expect(all(reply, 'www-authenticate')).toEqual([CHALLENGE]);
      });
    });
  }

  describe('hostile credential forms (fixture), through /auth/traefik and the proxy', () => {
    for (const item of FIXTURE.cases.filter((c) => c.tokenHeader === undefined)) {
      it(item.why, async () => {
        const a = tokens.alice as string;
        const b = tokens.carol as string;
        const lines = fixtureLines(item.headers, a, b);
        const reply = await rawRequest(app.url, 'GET', '/auth/traefik', [
          ...describeTarget('forwarded', 'GET', '/notes'),
          ...lines,
        ]);
        if (item.expect.kind === 'token') {
          expect(reply.status, reply.body).toBe(200);
          expect(header(reply, 'remote-user')).toBe(
            item.expect.token === 'A' ? aliceName : carolName,
          );
        } else {
          // Never let in; a header the server cannot parse (NUL, too large) is a 400/431.
          expect([400, 401, 431]).toContain(reply.status);
          if (reply.status === 401) {
            expect(header(reply, 'www-authenticate')).toBe(
              item.expect.kind === 'invalid' ? INVALID : CHALLENGE,
            );
          }
        }

        const pa = proxyTokens.alice as string;
        const before = upstream.requests.length;
        const pb = proxyTokens.carol as string;
        const through = await rawRequest(proxy.url, 'GET', '/echo', [
          ['Host', 'app.test'],
          ['Accept', 'application/json'],
          ...fixtureLines(item.headers, pa, pb),
        ]);
        if (item.expect.kind === 'token') {
          const echo = echoOf(through);
          expect(echoed(echo, 'remote-user')).toHaveLength(1);
          // The token is in no header the app receives.
          for (const [, value] of echo.headers) {
            expect(value).not.toContain(pa);
            expect(value).not.toContain(b64(`u:${pa}`));
          }
          for (const name of item.expect.strip ?? []) expect(echoed(echo, name)).toEqual([]);
        } else {
          expect([400, 401, 431]).toContain(through.status);
          expect(upstream.requests.length).toBe(before);
        }
      });
    }
  });

  describe('proxy mode', () => {
    for (const form of FORMS) {
      it(`forwards a request with a token as ${form.name}: identity set, token removed`, async () => {
        const token = proxyTokens.alice as string;
        const reply = await rawRequest(proxy.url, 'POST', '/api/chat?x=1', [
          ['Host', 'app.test'],
          ...form.headers(token),
        ]);
        const echo = echoOf(reply);
        expect(echoed(echo, 'remote-user')).toEqual([aliceName]);
        expect(echoed(echo, 'remote-email')).toEqual(['alice@example.com']);
        for (const [, value] of echo.headers) expect(value).not.toContain(token);
        expect(echoed(echo, 'authorization')).toEqual([]);
        expect(echoed(echo, 'proxy-authorization')).toEqual([]);
        expect(echoed(echo, 'x-portcullis-token')).toEqual([]);
      });
    }

    it("passes the app's own Authorization byte for byte beside a token in X-Portcullis-Token", async () => {
      const reply = await rawRequest(proxy.url, 'GET', '/echo', [
        ['Host', 'app.test'],
        ['Authorization', 'Bearer app-own-key'],
        ['X-Portcullis-Token', proxyTokens.alice as string],
      ]);
      const echo = echoOf(reply);
      expect(echoed(echo, 'authorization')).toEqual(['Bearer app-own-key']);
      expect(echoed(echo, 'remote-user')).toEqual([aliceName]);
      expect(echoed(echo, 'x-portcullis-token')).toEqual([]);
    });

    it("an app's own Authorization alone grants nothing at portcullis", async () => {
      const reply = await rawRequest(proxy.url, 'GET', '/echo', [
        ['Host', 'app.test'],
        ['Authorization', 'Bearer app-own-key'],
        ['Accept', 'application/json'],
      ]);
      expect(reply.status).toBe(401);
      expect(header(reply, 'www-authenticate')).toBe(CHALLENGE);
    });

    it('removes the token header in every spelling, whatever it holds', async () => {
      const cookie = await proxy.login('carol@example.com');
      const reply = await rawRequest(proxy.url, 'GET', '/echo', [
        ['Host', 'app.test'],
        ['Cookie', `portcullis_session=${cookie}`],
        ['X_Portcullis_Token', 'pcx_smuggled'],
        ['x.portcullis.token', 'pcx_smuggled'],
      ]);
      const echo = echoOf(reply);
      expect(echo.headers.map(([n]) => n.toLowerCase())).not.toContain('x_portcullis_token');
      expect(echo.headers.map(([n]) => n.toLowerCase())).not.toContain('x.portcullis.token');
      expect(echoed(echo, 'remote-user')).toEqual([carolName]);
    });

    it('refuses revoked, expired, deactivated and malformed tokens with 401 JSON, also to browsers', async () => {
      for (const value of [
        proxyTokens.revoked,
        proxyTokens.expiring,
        proxyTokens.bob,
        'pcx_short',
      ]) {
        const reply = await rawRequest(proxy.url, 'GET', '/notes', [
          ['Host', 'app.test'],
          ['Authorization', `Bearer ${value}`],
          ...NAVIGATION,
        ]);
        expect(reply.status).toBe(401);
        expect(header(reply, 'www-authenticate')).toBe(INVALID);
        expect(JSON.parse(reply.body)).toMatchObject({ error: 'invalid_token' });
      }
    });

    it('a scoped token is 403 outside its scope', async () => {
      const reply = await rawRequest(proxy.url, 'POST', '/api/x', [
        ['Host', 'app.test'],
        ['Authorization', `Bearer ${proxyTokens.scoped}`],
        ['Accept', 'application/json'],
      ]);
      expect(reply.status).toBe(403);
      const inside = await rawRequest(proxy.url, 'GET', '/api/x', [
        ['Host', 'app.test'],
        ['Authorization', `Bearer ${proxyTokens.scoped}`],
      ]);
      expect(echoed(echoOf(inside), 'remote-user')).toEqual([aliceName]);
    });

    it('two Authorization lines, the second a token: refused, never forwarded', async () => {
      const before = upstream.requests.length;
      const reply = await rawRequest(proxy.url, 'GET', '/echo', [
        ['Host', 'app.test'],
        ['Authorization', 'Bearer app-own-key'],
        ['Authorization', `Bearer ${proxyTokens.alice}`],
      ]);
      expect(reply.status).toBe(401);
      expect(upstream.requests.length).toBe(before);
    });

    it('opens a WebSocket with a token (token removed) and closes it once the token is revoked', async () => {
      const made = await proxyService.create(
        (await proxy.ctx.store.getUserByEmail('alice@example.com'))?.id ?? '',
        'ws',
      );
      if (!made.ok) throw new Error(made.message);
      const port = new URL(proxy.url).port;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
        headers: { Host: 'app.test', Authorization: `Bearer ${made.token}` },
      });
      const hello = await new Promise<string>((resolve, reject) => {
        ws.once('message', (data) => resolve(String(data)));
        ws.once('error', reject);
      });
      expect(JSON.parse(hello)).toMatchObject({ user: aliceName });
      const handshake = upstream.wsHandshakes.at(-1) ?? {};
      expect(handshake.authorization).toBeUndefined();
      const closed = new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now())));
      const revokedAt = Date.now();
      // Revoked through another service on the same store: as another instance would.
      await proxyService.revoke(made.record.id);
      // The proxy's clock is manual: the cache entry ages only when the clock moves.
      const ticker = setInterval(() => clock.advance(100), 100);
      try {
        const at = await closed;
        expect(at - revokedAt).toBeLessThan(2000);
      } finally {
        clearInterval(ticker);
      }
    });
  });
});
