import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { systemClock } from '../../src/core/clock.js';
import { nginx } from '../../src/http/check/dialects/nginx.js';
import { traefik } from '../../src/http/check/dialects/traefik.js';
import { AppTokenService } from '../../src/services/app-tokens.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type CaddyServer, startCaddy } from '../helpers/caddy.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { HTML, scenarioConfig } from '../helpers/proxy-scenarios.js';
import { type RawReply, rawRequest } from '../helpers/raw-request.js';
import { type EchoedRequest, type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

/**
 * Issue 13, behind a front proxy: a portcullis app token never reaches the app, any other
 * Authorization does, byte for byte; a refused token or a script on an allowed CORS origin sees
 * the 401 with WWW-Authenticate and CORS headers instead of a login redirect. Real nginx and
 * Caddy run the shipped examples; Traefik (not installable here) is replayed from its source.
 */

const ORIGIN = 'app://obsidian.md';
const APP_KEY = 'Bearer app-own-key';

function replaceExactly(text: string, from: string, to: string, times: number): string {
  const count = text.split(from).length - 1;
  if (count !== times) {
    throw new Error(`example changed: expected ${times} × "${from}", found ${count}`);
  }
  return text.split(from).join(to);
}

function config(url: string): Record<string, unknown> {
  return { ...scenarioConfig(url), cors: { allowed_origins: [ORIGIN] } };
}

interface Setup {
  app: TestApp;
  upstream: EchoUpstream;
  token: string;
  revoked: string;
  cookie: string;
  username: string;
}

async function setUp(url: string): Promise<Setup> {
  const upstream = await startEchoUpstream();
  const app = await startTestApp(config(url));
  const user = await app.ctx.users.findOrCreate('tok@example.com');
  const username = (await app.ctx.store.getUserByEmail('tok@example.com'))?.username ?? '';
  const tokens = new AppTokenService(app.ctx.store, app.ctx.store, systemClock, {
    maxLifetimeMs: app.ctx.config.raw.tokens.max_lifetime,
  });
  const made = await tokens.create(user.id, 'script');
  const gone = await tokens.create(user.id, 'old');
  if (!made.ok || !gone.ok) throw new Error('token create failed');
  if ((await tokens.revoke(gone.record.id)) === null) throw new Error('revoke failed');
  const cookie = await app.login('tok@example.com');
  return { app, upstream, token: made.token, revoked: gone.token, cookie, username };
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** The raw values of `name` the app received, as bytes (node hands them over as latin1). */
function received(request: EchoedRequest | undefined, name: string): Buffer[] {
  const out: Buffer[] = [];
  const raw = request?.rawHeaders ?? [];
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === name)
      out.push(Buffer.from(raw[i + 1] as string, 'latin1'));
  }
  return out;
}

function headerOf(reply: RawReply, name: string): string | undefined {
  return reply.headers.find(([n]) => n === name)?.[1];
}

/** Hostile values an app may legitimately use as its own credential (raw UTF-8 bytes included). */
const OWN_CREDENTIALS = [
  APP_KEY,
  basic('alice', 'app password'),
  'Bearer ключ-ü-😀',
  `Bearer ${'x'.repeat(6000)}`,
  'Bearer {env.HOME}{http.request.uri}$portcullis_login$x',
  'Token pcx',
  'Digest username="a", realm="r", nonce="n", uri="/", response="0"',
];

interface FrontProxy {
  url: string;
  setup: Setup;
  /** What a not-signed-in browser navigation gets. */
  loginStatus: number;
}

/** The same table, once per real proxy. */
function strippingScenarios(get: () => FrontProxy): void {
  async function through(
    path: string,
    headers: [string, string][],
    method = 'GET',
  ): Promise<{ reply: RawReply; app: EchoedRequest | undefined }> {
    const { setup, url } = get();
    const before = setup.upstream.requests.length;
    const reply = await rawRequest(url, method, path, headers);
    const app =
      setup.upstream.requests.length > before ? setup.upstream.requests.at(-1) : undefined;
    return { reply, app };
  }

  function expectNoToken(app: EchoedRequest | undefined, token: string): void {
    expect(app, 'the request reached the app').toBeDefined();
    const all = (app?.rawHeaders ?? []).join('\n');
    expect(all).not.toContain(token);
    expect(all).not.toContain(Buffer.from(`:${token}`).toString('base64').slice(4, 40));
    expect(received(app, 'x-portcullis-token')).toEqual([]);
    expect(received(app, 'proxy-authorization')).toEqual([]);
    expect(received(app, 'x-portcullis-authorization')).toEqual([]);
  }

  const forms: { name: string; headers: (token: string) => [string, string][] }[] = [
    { name: 'Authorization: Bearer', headers: (t) => [['Authorization', `Bearer ${t}`]] },
    { name: 'Authorization: Basic password', headers: (t) => [['Authorization', basic('x', t)]] },
    { name: 'X-Portcullis-Token', headers: (t) => [['X-Portcullis-Token', t]] },
  ];
  for (const form of forms) {
    it(`removes a token sent as ${form.name} before the app sees the request`, async () => {
      const { setup } = get();
      const { reply, app } = await through('/private/notes', form.headers(setup.token));
      expect(reply.status, reply.body).toBe(200);
      expectNoToken(app, setup.token);
      expect(received(app, 'authorization')).toEqual([]);
      expect(received(app, 'remote-user').map(String)).toEqual([setup.username]);
    });
  }

  it('removes a token in X-Portcullis-Token and passes the app its own Authorization', async () => {
    const { setup } = get();
    const { reply, app } = await through('/private/notes', [
      ['X-Portcullis-Token', setup.token],
      ['Authorization', APP_KEY],
    ]);
    expect(reply.status, reply.body).toBe(200);
    expectNoToken(app, setup.token);
    expect(received(app, 'authorization').map(String)).toEqual([APP_KEY]);
  });

  it('removes a token from a bypassed path too', async () => {
    const { setup } = get();
    const { reply, app } = await through('/public/x', [['Authorization', `Bearer ${setup.token}`]]);
    expect(reply.status, reply.body).toBe(200);
    expectNoToken(app, setup.token);
    expect(received(app, 'authorization')).toEqual([]);
  });

  for (const own of OWN_CREDENTIALS) {
    it(`passes the app's own Authorization untouched, byte for byte: ${own.slice(0, 40)}`, async () => {
      const { setup } = get();
      const bytes = Buffer.from(own, 'utf8');
      for (const path of ['/private/notes', '/public/x']) {
        const { reply, app } = await through(path, [
          ['Cookie', `portcullis_session=${setup.cookie}`],
          ['Authorization', own],
        ]);
        expect(reply.status, reply.body).toBe(200);
        expect(received(app, 'authorization'), path).toEqual([bytes]);
      }
    });
  }

  it('grants nothing at portcullis for an Authorization meant for the app', async () => {
    const { reply, app } = await through('/private/notes', [
      ['Authorization', APP_KEY],
      ['Accept', HTML],
    ]);
    expect(reply.status).toBe(get().loginStatus);
    expect(app).toBeUndefined();
  });

  it('never lets a client choose the Authorization through X-Portcullis-Authorization', async () => {
    const { setup } = get();
    const { reply, app } = await through('/private/notes', [
      ['Cookie', `portcullis_session=${setup.cookie}`],
      ['X-Portcullis-Authorization', 'Bearer forged'],
    ]);
    expect(reply.status, reply.body).toBe(200);
    expect(received(app, 'authorization')).toEqual([]);
    expect(received(app, 'x-portcullis-authorization')).toEqual([]);
  });

  it('answers a refused token with 401 and its challenge, never a login redirect', async () => {
    const { setup } = get();
    for (const headers of [
      [['Authorization', `Bearer ${setup.revoked}`]],
      [
        ['Authorization', `Bearer ${setup.revoked}`],
        ['Accept', HTML],
        ['Sec-Fetch-Mode', 'navigate'],
      ],
      [['X-Portcullis-Token', `${setup.token}x`]],
    ] as [string, string][][]) {
      const { reply, app } = await through('/private/notes', headers);
      expect(reply.status, reply.body).toBe(401);
      expect(headerOf(reply, 'location')).toBeUndefined();
      expect(headerOf(reply, 'www-authenticate')).toBe(
        'Bearer realm="portcullis", error="invalid_token"',
      );
      expect(app).toBeUndefined();
    }
  });

  it('lets a script on an allowed origin read the 401: CORS and WWW-Authenticate, no Location', async () => {
    const { reply, app } = await through('/private/api/chat', [
      ['Origin', ORIGIN],
      ['Accept', '*/*'],
      ['Sec-Fetch-Mode', 'cors'],
    ]);
    expect(reply.status, reply.body).toBe(401);
    expect(headerOf(reply, 'location')).toBeUndefined();
    expect(headerOf(reply, 'access-control-allow-origin')).toBe(ORIGIN);
    expect(headerOf(reply, 'www-authenticate')).toBe('Bearer realm="portcullis"');
    expect(
      reply.headers
        .filter(([n]) => n === 'vary')
        .map(([, v]) => v)
        .join(','),
    ).toMatch(/Origin/);
    expect(app).toBeUndefined();
  });

  it('sends a browser without a credential to the login page, and other origins get no CORS', async () => {
    const nav = await through('/private/page', [
      ['Accept', HTML],
      ['Sec-Fetch-Mode', 'navigate'],
    ]);
    expect(nav.reply.status).toBe(get().loginStatus);
    expect(headerOf(nav.reply, 'location')).toMatch(/\/auth\/login\?rd=/);
    const other = await through('/private/api/chat', [
      ['Origin', 'https://evil.example'],
      ['Accept', '*/*'],
      ['Sec-Fetch-Mode', 'cors'],
    ]);
    expect(headerOf(other.reply, 'access-control-allow-origin')).toBeUndefined();
  });

  it('passes an allowed preflight to the app without a credential', async () => {
    const { reply, app } = await through(
      '/private/api/chat',
      [
        ['Origin', ORIGIN],
        ['Access-Control-Request-Method', 'POST'],
        ['Access-Control-Request-Headers', 'authorization, content-type'],
      ],
      'OPTIONS',
    );
    expect(reply.status, reply.body).toBe(200);
    expect(app?.method).toBe('OPTIONS');
    expect(received(app, 'remote-user')).toEqual([]);
  });
}

function nginxTemplated(file: URL, ports: { listen: number; portcullis: number; app: number }) {
  let conf = readFileSync(file, 'utf8');
  conf = replaceExactly(conf, 'server 127.0.0.1:4180;', `server 127.0.0.1:${ports.portcullis};`, 1);
  conf = replaceExactly(conf, 'server 127.0.0.1:8080;', `server 127.0.0.1:${ports.app};`, 1);
  return replaceExactly(conf, 'listen 80;', `listen 127.0.0.1:${ports.listen};`, 1);
}

describe('behind real nginx with examples/nginx/portcullis.conf', () => {
  let nginx: NginxServer | undefined;
  let front: FrontProxy;

  beforeAll(async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const setup = await setUp(url);
    nginx = await startNginx(
      nginxTemplated(new URL('../../examples/nginx/portcullis.conf', import.meta.url), {
        listen: port,
        portcullis: Number(new URL(setup.app.url).port),
        app: setup.upstream.port,
      }),
      [port],
    );
    front = { url, setup, loginStatus: 302 };
  });

  afterAll(async () => {
    await nginx?.stop();
    await front?.setup.app.close();
    await front?.setup.upstream.close();
  });

  strippingScenarios(() => front);

  it('removes a token sent in Proxy-Authorization', async () => {
    const { setup } = front;
    const before = setup.upstream.requests.length;
    const reply = await rawRequest(front.url, 'GET', '/private/notes', [
      ['Proxy-Authorization', `Bearer ${setup.token}`],
      ['Authorization', APP_KEY],
    ]);
    expect(reply.status, reply.body).toBe(200);
    const app = setup.upstream.requests.at(-1);
    expect(setup.upstream.requests.length).toBe(before + 1);
    expect(received(app, 'proxy-authorization')).toEqual([]);
    expect(received(app, 'authorization').map(String)).toEqual([APP_KEY]);
  });
});

describe('behind real Caddy with examples/caddy/Caddyfile', () => {
  let caddy: CaddyServer | undefined;
  let front: FrontProxy;

  beforeAll(async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const setup = await setUp(url);
    const portcullis = `127.0.0.1:${new URL(setup.app.url).port}`;
    let file = readFileSync(new URL('../../examples/caddy/Caddyfile', import.meta.url), 'utf8');
    file = replaceExactly(
      file,
      '\t\treverse_proxy 127.0.0.1:4180\n',
      `\t\treverse_proxy ${portcullis}\n`,
      1,
    );
    file = replaceExactly(file, 'forward_auth 127.0.0.1:4180 {', `forward_auth ${portcullis} {`, 1);
    file = replaceExactly(
      file,
      'reverse_proxy 127.0.0.1:8080',
      `reverse_proxy 127.0.0.1:${setup.upstream.port}`,
      1,
    );
    file = replaceExactly(file, 'app.example.com {', `http://127.0.0.1:${port} {`, 1);
    caddy = await startCaddy(`{\n\tadmin off\n\tauto_https off\n}\n\n${file}`, [port]);
    front = { url, setup, loginStatus: 302 };
  });

  afterAll(async () => {
    await caddy?.stop();
    await front?.setup.app.close();
    await front?.setup.upstream.close();
  });

  strippingScenarios(() => front);

  it('never forwards Proxy-Authorization, token or not', async () => {
    const { setup } = front;
    const reply = await rawRequest(front.url, 'GET', '/private/notes', [
      ['Cookie', `portcullis_session=${setup.cookie}`],
      ['Proxy-Authorization', 'Basic cHJveHk6cGFzcw=='],
    ]);
    expect(reply.status, reply.body).toBe(200);
    expect(received(setup.upstream.requests.at(-1), 'proxy-authorization')).toEqual([]);
  });
});

const COMPOSE = parse(
  readFileSync(new URL('../../examples/traefik/docker-compose.yml', import.meta.url), 'utf8'),
) as { services: Record<string, { labels?: string[] }> };

function authResponseHeaders(): string[] {
  for (const label of COMPOSE.services.portcullis?.labels ?? []) {
    const match =
      /^traefik\.http\.middlewares\.[^.]+\.forwardAuth\.authResponseHeaders=(.*)$/i.exec(label);
    if (match) return (match[1] as string).split(',');
  }
  throw new Error('no authResponseHeaders in examples/traefik/docker-compose.yml');
}

/**
 * What Traefik v3 hands the app after a 2xx from forwardAuth (pkg/middlewares/auth/forward.go,
 * ServeHTTP): every `authResponseHeaders` name is deleted from the request, then set back from
 * the answer when the answer has it —
 *
 *     for _, headerName := range fa.authResponseHeaders {
 *         headerKey := http.CanonicalHeaderKey(headerName)
 *         req.Header.Del(headerKey)
 *         if len(forwardResponse.Header[headerKey]) > 0 {
 *             req.Header[headerKey] = append([]string(nil), forwardResponse.Header[headerKey]...)
 *         }
 *     }
 *
 * Any other answer (401, 403, 3xx) goes back to the client with its headers and body instead.
 */
function traefikToApp(
  client: [string, string][],
  answer: RawReply,
  names: string[],
): [string, string][] {
  const lower = names.map((name) => name.toLowerCase());
  const out = client.filter(([name]) => !lower.includes(name.toLowerCase()));
  for (const name of names) {
    for (const [n, v] of answer.headers) if (n === name.toLowerCase()) out.push([name, v]);
  }
  return out;
}

function valuesOf(headers: [string, string][], name: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

describe('behind Traefik forwardAuth (replayed) with examples/traefik', () => {
  let setup: Setup;
  const names = authResponseHeaders();

  beforeAll(async () => {
    setup = await setUp('https://auth.example.com');
  });

  afterAll(async () => {
    await setup?.app.close();
    await setup?.upstream.close();
  });

  it('lists the credentials a token may ride in, so Traefik deletes what portcullis omits', () => {
    for (const name of ['Authorization', 'Proxy-Authorization', 'X-Portcullis-Token']) {
      expect(names).toContain(name);
    }
  });

  for (const path of ['/auth/traefik', '/api/authz/forward-auth', '/api/verify']) {
    async function check(client: [string, string][], uri = '/private/notes') {
      const answer = await rawRequest(setup.app.url, 'GET', path, [
        ...client,
        ['X-Forwarded-Method', 'GET'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'app.example.com'],
        ['X-Forwarded-Uri', uri],
        ['X-Forwarded-For', '198.51.100.7'],
      ]);
      return { answer, app: traefikToApp(client, answer, names) };
    }

    describe(path, () => {
      it('removes a token from every place it may ride', async () => {
        for (const client of [
          [['Authorization', `Bearer ${setup.token}`]],
          [['Authorization', basic('me', setup.token)]],
          [['Proxy-Authorization', `Bearer ${setup.token}`]],
          [['X-Portcullis-Token', setup.token]],
        ] as [string, string][][]) {
          const { answer, app } = await check(client);
          expect(answer.status, answer.body).toBe(200);
          expect(app.map(([, v]) => v).join('\n')).not.toContain(setup.token);
          expect(valuesOf(app, 'authorization')).toEqual([]);
          expect(valuesOf(app, 'remote-user')).toEqual([setup.username]);
        }
      });

      it("keeps the app's own Authorization beside a token in X-Portcullis-Token", async () => {
        const { answer, app } = await check([
          ['X-Portcullis-Token', setup.token],
          ['Authorization', APP_KEY],
          ['Proxy-Authorization', 'Basic cHJveHk6cGFzcw=='],
        ]);
        expect(answer.status, answer.body).toBe(200);
        expect(valuesOf(app, 'authorization')).toEqual([APP_KEY]);
        expect(valuesOf(app, 'proxy-authorization')).toEqual(['Basic cHJveHk6cGFzcw==']);
        expect(valuesOf(app, 'x-portcullis-token')).toEqual([]);
      });

      for (const own of OWN_CREDENTIALS) {
        it(`passes the app's own Authorization byte for byte: ${own.slice(0, 40)}`, async () => {
          for (const uri of ['/private/notes', '/public/x']) {
            const { answer, app } = await check(
              [
                ['Cookie', `portcullis_session=${setup.cookie}`],
                ['Authorization', own],
              ],
              uri,
            );
            expect(answer.status, answer.body).toBe(200);
            // rawRequest reads the answer as UTF-8: the bytes sent come back as the same text.
            expect(valuesOf(app, 'authorization')).toEqual([own]);
          }
        });
      }

      it('never repeats a credential on a 401 or 403', async () => {
        const refused = await check([['Authorization', APP_KEY]]);
        expect(refused.answer.status).toBe(401);
        const denied = await check(
          [
            ['Cookie', `portcullis_session=${setup.cookie}`],
            ['Authorization', APP_KEY],
          ],
          '/admin/x',
        );
        expect(denied.answer.status).toBe(403);
        for (const { answer } of [refused, denied]) {
          expect(answer.headers.map(([n]) => n)).not.toContain('authorization');
          expect(answer.headers.map(([n]) => n)).not.toContain('x-portcullis-authorization');
        }
      });
    });
  }
});

describe('the nginx-form check paths repeat the Authorization for auth_request_set', () => {
  let setup: Setup;

  beforeAll(async () => {
    setup = await setUp('https://auth.example.com');
  });

  afterAll(async () => {
    await setup?.app.close();
    await setup?.upstream.close();
  });

  const ORIGINAL: [string, string][] = [
    ['X-Original-URL', 'https://app.example.com/private/notes'],
    ['X-Original-Method', 'GET'],
  ];
  const PATHS: { path: string; target: [string, string][]; allow: number }[] = [
    { path: '/auth/nginx', target: ORIGINAL, allow: 200 },
    { path: '/api/authz/auth-request', target: ORIGINAL, allow: 200 },
    { path: '/api/verify', target: ORIGINAL, allow: 200 },
    {
      path: '/oauth2/auth',
      target: [
        ['Host', 'app.example.com'],
        ['X-Forwarded-Uri', '/private/notes'],
        ['X-Forwarded-Method', 'GET'],
      ],
      allow: 202,
    },
  ];

  for (const { path, target, allow } of PATHS) {
    it(`${path}: the app's own Authorization in X-Portcullis-Authorization, never the token`, async () => {
      const own = await rawRequest(setup.app.url, 'GET', path, [
        ...target,
        ['Cookie', `portcullis_session=${setup.cookie}`],
        ['Authorization', APP_KEY],
      ]);
      expect(own.status, own.body).toBe(allow);
      expect(headerOf(own, 'x-portcullis-authorization')).toBe(APP_KEY);
      expect(headerOf(own, 'authorization')).toBeUndefined();
      const token = await rawRequest(setup.app.url, 'GET', path, [
        ...target,
        ['Authorization', `Bearer ${setup.token}`],
      ]);
      expect(token.status, token.body).toBe(allow);
      expect(headerOf(token, 'x-portcullis-authorization')).toBeUndefined();
      const refused = await rawRequest(setup.app.url, 'GET', path, [
        ...target,
        ['Authorization', `Bearer ${setup.revoked}`],
        ['Accept', HTML],
      ]);
      expect(refused.status).toBe(401);
      expect(headerOf(refused, 'location')).toBeUndefined();
      expect(headerOf(refused, 'x-portcullis-authorization')).toBeUndefined();
    });
  }
});

describe('a credential that cannot be written back', () => {
  it('is refused (400 at the check), never let in without stripping', () => {
    // node's parser hands values over as latin1, so this only comes from in-process callers.
    const req = {
      headers: { authorization: 'Bearer €' },
      rawHeaders: ['Authorization', 'Bearer €'],
    };
    expect(traefik.passOn(req, [])).toBeNull();
    expect(nginx.passOn(req, [])).toBeNull();
    // Stripped anyway (it held the token): nothing to write back, nothing refused.
    expect(nginx.passOn(req, ['authorization'])).toEqual([]);
    const latin1 = {
      headers: { authorization: 'Bearer \xe9' },
      rawHeaders: ['Authorization', 'Bearer \xe9'],
    };
    expect(traefik.passOn(latin1, [])).toEqual(['Authorization', 'Bearer \xe9']);
  });
});
