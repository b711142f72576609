import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { type RawReply, rawRequest } from '../helpers/raw-request.js';

/**
 * CORS for cross-origin clients (SPEC §3, `cors.allowed_origins`), over real sockets: a real
 * preflight (OPTIONS + allowed Origin + Access-Control-Request-Method) passes as nobody, at
 * every check endpoint and through the proxy; anything short of that is an ordinary request.
 * A 401 to an allowed origin carries the CORS headers and the Bearer challenge; other origins
 * get nothing extra.
 */

const PUBLIC_URL = 'https://auth.example.com';
const APP = 'https://app.example.com';
const OBSIDIAN = 'app://obsidian.md';
const IDENTITY = ['remote-user', 'remote-email', 'remote-name', 'remote-groups'];

const ENDPOINTS: { path: string; method: (m: string) => [string, string][] }[] = [
  {
    path: '/auth/nginx',
    method: (m) => [
      ['X-Original-URL', `${APP}/api/search?q=1`],
      ['X-Original-Method', m],
    ],
  },
  {
    path: '/auth/traefik',
    method: (m) => [
      ['X-Forwarded-Method', m],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'app.example.com'],
      ['X-Forwarded-Uri', '/api/search?q=1'],
    ],
  },
  {
    path: '/oauth2/auth',
    method: (m) => [
      ['Host', 'app.example.com'],
      ['X-Forwarded-Uri', '/api/search?q=1'],
      ['X-Forwarded-Method', m],
    ],
  },
  {
    path: '/api/authz/forward-auth',
    method: (m) => [
      ['X-Forwarded-Method', m],
      ['X-Forwarded-Host', 'app.example.com'],
      ['X-Forwarded-Uri', '/api/search?q=1'],
    ],
  },
  {
    path: '/api/verify',
    method: (m) => [
      ['X-Original-URL', `${APP}/api/search?q=1`],
      ['X-Original-Method', m],
    ],
  },
];

function header(reply: RawReply, name: string): string | undefined {
  return reply.headers.find(([n]) => n === name)?.[1];
}

/** Requests that are NOT an allowed preflight, though close to one. */
const NOT_PREFLIGHTS: { name: string; method: string; headers: [string, string][] }[] = [
  {
    name: 'another origin',
    method: 'OPTIONS',
    headers: [
      ['Origin', 'https://evil.example'],
      ['Access-Control-Request-Method', 'GET'],
    ],
  },
  {
    name: 'an allowed origin as a prefix',
    method: 'OPTIONS',
    headers: [
      ['Origin', 'app://obsidian.md.evil.example'],
      ['Access-Control-Request-Method', 'GET'],
    ],
  },
  {
    name: 'Origin: null',
    method: 'OPTIONS',
    headers: [
      ['Origin', 'null'],
      ['Access-Control-Request-Method', 'GET'],
    ],
  },
  {
    name: 'no Access-Control-Request-Method',
    method: 'OPTIONS',
    headers: [['Origin', OBSIDIAN]],
  },
  {
    name: 'a junk Access-Control-Request-Method',
    method: 'OPTIONS',
    headers: [
      ['Origin', OBSIDIAN],
      ['Access-Control-Request-Method', 'GET POST'],
    ],
  },
  {
    name: 'no Origin',
    method: 'OPTIONS',
    headers: [['Access-Control-Request-Method', 'GET']],
  },
  {
    name: 'not OPTIONS',
    method: 'GET',
    headers: [
      ['Origin', OBSIDIAN],
      ['Access-Control-Request-Method', 'GET'],
    ],
  },
  {
    name: 'a DELETE with preflight headers',
    method: 'DELETE',
    headers: [
      ['Origin', OBSIDIAN],
      ['Access-Control-Request-Method', 'DELETE'],
    ],
  },
];

describe('CORS', () => {
  let app: TestApp;
  let proxy: TestApp;
  let upstream: EchoUpstream;
  let cookie = '';
  let proxyCookie = '';
  const config = {
    server: { public_url: PUBLIC_URL },
    cors: { allowed_origins: [OBSIDIAN, 'capacitor://localhost', 'http://localhost'] },
    access: { default_policy: 'authenticated' },
  };

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp(config);
    proxy = await startTestApp({
      ...config,
      server: { public_url: 'http://app.test' },
      proxy: { upstream: upstream.url },
    });
    cookie = await app.login('alice@example.com');
    proxyCookie = await proxy.login('alice@example.com');
  });

  afterAll(async () => {
    await app?.close();
    await proxy?.close();
    await upstream?.close();
  });

  for (const endpoint of ENDPOINTS) {
    describe(endpoint.path, () => {
      it('lets an allowed preflight through without a credential, and with none sets no identity', async () => {
        for (const origin of [OBSIDIAN, 'capacitor://localhost', 'http://localhost']) {
          for (const extra of [
            [] as [string, string][],
            [['Cookie', `portcullis_session=${cookie}`]] as [string, string][],
          ]) {
            const reply = await rawRequest(app.url, 'GET', endpoint.path, [
              ...endpoint.method('OPTIONS'),
              ['Origin', origin],
              ['Access-Control-Request-Method', 'POST'],
              ['Access-Control-Request-Headers', 'authorization,content-type'],
              ...extra,
            ]);
            expect(reply.status, `${origin} ${reply.body}`).toBeLessThan(300);
            for (const name of IDENTITY) expect(header(reply, name)).toBeUndefined();
            expect(header(reply, 'x-auth-request-user')).toBeUndefined();
          }
        }
      });

      for (const near of NOT_PREFLIGHTS) {
        it(`treats ${near.name} as an ordinary request (401 without a credential)`, async () => {
          const reply = await rawRequest(app.url, 'GET', endpoint.path, [
            ...endpoint.method(near.method),
            ['Accept', 'application/json'],
            ...near.headers,
          ]);
          expect(reply.status).toBe(401);
          expect(header(reply, 'www-authenticate')).toBe('Bearer realm="portcullis"');
        });
      }

      it('a 401 to an allowed origin carries the CORS headers; another origin gets none', async () => {
        const allowed = await rawRequest(app.url, 'GET', endpoint.path, [
          ...endpoint.method('GET'),
          ['Origin', 'capacitor://localhost'],
          ['Authorization', 'Bearer pcx_truncated'],
        ]);
        expect(allowed.status).toBe(401);
        expect(header(allowed, 'access-control-allow-origin')).toBe('capacitor://localhost');
        expect(header(allowed, 'vary')).toBe('Origin');
        expect(header(allowed, 'access-control-expose-headers')).toBe('WWW-Authenticate');
        expect(header(allowed, 'www-authenticate')).toBe(
          'Bearer realm="portcullis", error="invalid_token"',
        );
        for (const origin of ['https://evil.example', 'null', 'app://obsidian.md:1']) {
          const other = await rawRequest(app.url, 'GET', endpoint.path, [
            ...endpoint.method('GET'),
            ['Origin', origin],
            ['Accept', 'application/json'],
          ]);
          expect(other.status).toBe(401);
          expect(header(other, 'access-control-allow-origin')).toBeUndefined();
          expect(header(other, 'vary')).toBeUndefined();
          expect(header(other, 'www-authenticate')).toBe('Bearer realm="portcullis"');
        }
      });
    });
  }

  describe('proxy mode', () => {
    it('forwards an allowed preflight to the app with no identity headers, even with a session and forged ones', async () => {
      const reply = await rawRequest(proxy.url, 'OPTIONS', '/api/chat', [
        ['Host', 'app.test'],
        ['Origin', OBSIDIAN],
        ['Access-Control-Request-Method', 'POST'],
        ['Access-Control-Request-Headers', 'authorization,content-type'],
        ['Cookie', `portcullis_session=${proxyCookie}`],
        ['Remote-User', 'forged'],
        ['X-Auth-Request-User', 'forged'],
      ]);
      expect(reply.status).toBe(200);
      const echo = JSON.parse(reply.body) as { method: string; headers: [string, string][] };
      expect(echo.method).toBe('OPTIONS');
      const names = echo.headers.map(([n]) => n.toLowerCase());
      for (const name of [...IDENTITY, 'x-auth-request-user']) expect(names).not.toContain(name);
      expect(names).toContain('origin');
      expect(names).toContain('access-control-request-method');
    });

    for (const near of NOT_PREFLIGHTS) {
      it(`does not forward ${near.name} without a credential`, async () => {
        const before = upstream.requests.length;
        const reply = await rawRequest(proxy.url, near.method, '/api/chat', [
          ['Host', 'app.test'],
          ['Accept', 'application/json'],
          ...near.headers,
        ]);
        expect(reply.status).toBe(401);
        expect(upstream.requests.length).toBe(before);
      });
    }

    it('a 401 to an allowed origin is readable by it; to another origin it is not', async () => {
      const allowed = await rawRequest(proxy.url, 'GET', '/api/search', [
        ['Host', 'app.test'],
        ['Origin', OBSIDIAN],
      ]);
      expect(allowed.status).toBe(401);
      expect(header(allowed, 'access-control-allow-origin')).toBe(OBSIDIAN);
      expect(header(allowed, 'vary')).toBe('Origin');
      expect(header(allowed, 'www-authenticate')).toBe('Bearer realm="portcullis"');
      const other = await rawRequest(proxy.url, 'GET', '/api/search', [
        ['Host', 'app.test'],
        ['Origin', 'https://evil.example'],
      ]);
      expect(other.status).toBe(401);
      expect(header(other, 'access-control-allow-origin')).toBeUndefined();
    });

    it('a browser navigation from nowhere still gets the login redirect (no challenge on a 302)', async () => {
      const reply = await rawRequest(proxy.url, 'GET', '/notes', [
        ['Host', 'app.test'],
        ['Accept', 'text/html'],
        ['Sec-Fetch-Mode', 'navigate'],
      ]);
      expect(reply.status).toBe(302);
      expect(header(reply, 'www-authenticate')).toBeUndefined();
    });
  });
});
