import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { freePort, waitFor } from '../helpers/ports.js';

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
  /** ms since the request was sent, for each body chunk as it arrived. */
  chunkTimes: number[];
  endTime: number;
}

interface EchoBody {
  method: string;
  url: string;
  headers: [string, string][];
  bytes: number;
  sha256: string;
}

/** A request with exact headers (fetch would add and forbid some), answered in full. */
function send(
  base: string,
  path: string,
  options: { method?: string; headers?: string[]; body?: string | Buffer } = {},
): Promise<Answer> {
  const target = new URL(base);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers ?? ['Host', 'app.test'],
        setHost: false,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const chunkTimes: number[] = [];
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          chunkTimes.push(Date.now() - started);
        });
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
            chunkTimes,
            endTime: Date.now() - started,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function received(answer: Answer): EchoBody {
  expect(answer.status).toBe(200);
  return JSON.parse(answer.body) as EchoBody;
}

function header(echo: EchoBody, name: string): string[] {
  return echo.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

const NAV = ['Accept', 'text/html,application/xhtml+xml', 'Sec-Fetch-Mode', 'navigate'];

describe('reverse proxy: requests', () => {
  let upstream: EchoUpstream;
  let app: TestApp;
  let cookie: string;
  let adminCookie: string;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: 'http://app.test' },
      proxy: { upstream: upstream.url, timeout: '1s' },
      access: {
        rules: [
          { path: '/public/**', policy: 'bypass' },
          { path: '/admin/**', groups: ['admins'] },
        ],
      },
    });
    cookie = await app.login('alice@example.com');
    adminCookie = await app.login('root@example.com');
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  const withCookie = (value: string, extra: string[] = []) => [
    'Host',
    'app.test',
    'Cookie',
    `theme=dark; portcullis_session=${value}; lang=en`,
    ...extra,
  ];

  it('redirects a browser navigation without a session to the login page, with rd', async () => {
    const answer = await send(app.url, '/notes/1?x=2', { headers: ['Host', 'app.test', ...NAV] });
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe(
      `http://app.test/auth/login?rd=${encodeURIComponent('http://app.test/notes/1?x=2')}`,
    );
  });

  it('answers 303 to a form POST navigation without a session', async () => {
    const answer = await send(app.url, '/notes', {
      method: 'POST',
      headers: ['Host', 'app.test', ...NAV, 'Content-Type', 'application/x-www-form-urlencoded'],
      body: 'a=1',
    });
    expect(answer.status).toBe(303);
    expect(answer.headers.location).toContain('/auth/login?rd=');
  });

  it('answers 401 JSON with the login URL to an API call without a session', async () => {
    const answer = await send(app.url, '/api/chat', {
      headers: ['Host', 'app.test', 'Accept', 'application/json'],
    });
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toEqual({
      error: 'unauthenticated',
      login_url: `http://app.test/auth/login?rd=${encodeURIComponent('http://app.test/api/chat')}`,
    });
  });

  it('answers 403 with a page when the user is signed in but not allowed', async () => {
    const answer = await send(app.url, '/admin/settings', { headers: withCookie(cookie, NAV) });
    expect(answer.status).toBe(403);
    expect(answer.headers['content-type']).toContain('text/html');
    expect(answer.body).toContain('may not open this page');
  });

  it('lets a bypass path through without a session, with no identity headers', async () => {
    const echo = received(await send(app.url, '/public/logo.svg'));
    expect(echo.url).toBe('/public/logo.svg');
    expect(header(echo, 'remote-user')).toEqual([]);
  });

  it('forwards an allowed request with the identity headers and without forged copies', async () => {
    const answer = await send(app.url, '/notes/1?q=a%20b&r=%2F', {
      headers: withCookie(cookie, [
        'Remote-User',
        'admin',
        'remote_user',
        'admin',
        'X-Auth-Request-Email',
        'root@example.com',
        'Remote-Groups',
        'admins',
        'X-Custom',
        'kept',
      ]),
    });
    const echo = received(answer);
    const me = await app.ctx.sessions.resolve(cookie);
    expect(me.kind).toBe('valid');
    const id = me.kind === 'valid' ? me.live.user.username : '';
    expect(echo.url).toBe('/notes/1?q=a%20b&r=%2F');
    expect(header(echo, 'remote-user')).toEqual([id]);
    expect(header(echo, 'remote_user')).toEqual([]);
    expect(header(echo, 'x-auth-request-user')).toEqual([id]);
    expect(header(echo, 'remote-email')).toEqual(['alice@example.com']);
    expect(header(echo, 'x-auth-request-email')).toEqual(['alice@example.com']);
    expect(header(echo, 'remote-groups')).toEqual(['']);
    expect(header(echo, 'x-custom')).toEqual(['kept']);
    // The session cookie stays with portcullis; the app's own cookies pass.
    expect(header(echo, 'cookie')).toEqual(['theme=dark; lang=en']);
  });

  it('preserves the Host and sets X-Forwarded-For/-Proto/-Host', async () => {
    const echo = received(await send(app.url, '/x', { headers: withCookie(cookie) }));
    expect(header(echo, 'host')).toEqual(['app.test']);
    expect(header(echo, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(header(echo, 'x-forwarded-proto')).toEqual(['http']);
    expect(header(echo, 'x-forwarded-host')).toEqual(['app.test']);
  });

  it('appends to X-Forwarded-For and believes X-Forwarded-Proto from a trusted proxy', async () => {
    const echo = received(
      await send(app.url, '/x', {
        headers: withCookie(cookie, [
          'X-Forwarded-For',
          '203.0.113.7',
          'X-Forwarded-Proto',
          'https',
          'X-Forwarded-Host',
          'app.test',
        ]),
      }),
    );
    expect(header(echo, 'x-forwarded-for')).toEqual(['203.0.113.7, 127.0.0.1']);
    expect(header(echo, 'x-forwarded-proto')).toEqual(['https']);
  });

  it('drops hop-by-hop request headers, and those named by Connection', async () => {
    const echo = received(
      await send(app.url, '/x', {
        headers: withCookie(cookie, [
          'Connection',
          'keep-alive, X-Hop',
          'X-Hop',
          'private',
          'Keep-Alive',
          'timeout=5',
          'TE',
          'trailers',
          'Proxy-Authorization',
          'Basic Zm9vOmJhcg==',
        ]),
      }),
    );
    for (const name of ['x-hop', 'keep-alive', 'te', 'proxy-authorization']) {
      expect(header(echo, name), name).toEqual([]);
    }
    expect(header(echo, 'connection')).toEqual(['keep-alive']);
  });

  it('drops hop-by-hop response headers and keeps the rest', async () => {
    const answer = await send(app.url, '/hop-by-hop', { headers: withCookie(cookie) });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('hop\n');
    expect(answer.headers['x-upstream-public']).toBe('visible');
    expect(answer.headers['x-upstream-private']).toBeUndefined();
    expect(answer.headers['keep-alive']).not.toBe('timeout=30');
  });

  it('passes status codes and repeated Set-Cookie headers through', async () => {
    const answer = await send(app.url, '/status?code=418', { headers: withCookie(cookie) });
    expect(answer.status).toBe(418);
    expect(answer.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  });

  it.each(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])(
    'forwards %s with its body',
    async (method) => {
      const body = method === 'GET' || method === 'OPTIONS' ? '' : `payload for ${method}`;
      const echo = received(
        await send(app.url, `/m/${method}`, {
          method,
          headers: withCookie(
            cookie,
            body ? ['Content-Length', String(Buffer.byteLength(body))] : [],
          ),
          body,
        }),
      );
      expect(echo.method).toBe(method);
      expect(echo.bytes).toBe(Buffer.byteLength(body));
    },
  );

  it('forwards HEAD without a body', async () => {
    const answer = await send(app.url, '/head', { method: 'HEAD', headers: withCookie(cookie) });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBe('123');
    expect(answer.body).toBe('');
  });

  it('forwards a chunked request body', async () => {
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: new URL(app.url).port,
          path: '/chunked-upload',
          method: 'POST',
          headers: withCookie(cookie, ['Transfer-Encoding', 'chunked']),
          setHost: false,
          agent: false,
        },
        (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              rawHeaders: [],
              body,
              chunkTimes: [],
              endTime: 0,
            }),
          );
        },
      );
      req.on('error', reject);
      req.write('hello ');
      setTimeout(() => req.end('world'), 50);
    });
    const echo = received(answer);
    expect(echo.bytes).toBe(11);
    expect(header(echo, 'transfer-encoding')).toEqual(['chunked']);
  });

  it('streams a chunked response as it comes (first chunk long before the end)', async () => {
    const answer = await send(app.url, '/chunks?n=4&gap=300', { headers: withCookie(cookie) });
    expect(answer.status).toBe(200);
    expect(answer.body.split('\n').filter(Boolean)).toHaveLength(5);
    expect(answer.chunkTimes.length).toBeGreaterThanOrEqual(4);
    expect(answer.endTime - (answer.chunkTimes[0] as number)).toBeGreaterThan(700);
  });

  it('flushes Server-Sent Events one by one', async () => {
    const answer = await send(app.url, '/sse?n=3&gap=300', {
      headers: withCookie(cookie, ['Accept', 'text/event-stream']),
    });
    expect(answer.headers['content-type']).toBe('text/event-stream');
    const events = answer.body.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(3);
    // Each event arrived in its own chunk, about `gap` apart.
    expect(answer.chunkTimes.length).toBeGreaterThanOrEqual(3);
    const last = answer.chunkTimes[answer.chunkTimes.length - 1] as number;
    expect(last - (answer.chunkTimes[0] as number)).toBeGreaterThan(400);
  });

  it('answers 504 with a page when the upstream is slower than proxy.timeout, and stays healthy', async () => {
    const started = Date.now();
    const answer = await send(app.url, '/slow?ms=3000', { headers: withCookie(cookie, NAV) });
    expect(answer.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(answer.headers['content-type']).toContain('text/html');
    expect(answer.body).toContain('did not answer in time');
    received(await send(app.url, '/after-timeout', { headers: withCookie(cookie) }));
  });

  it('closes the client connection when the upstream drops mid-body, and stays healthy', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: new URL(app.url).port,
          path: '/close-mid-body',
          headers: withCookie(cookie),
          setHost: false,
          agent: false,
        },
        (res) => {
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            bytes += c.length;
          });
          res.on('end', () => resolve(`ended after ${bytes}`));
          res.on('error', () => resolve(`aborted after ${bytes}`));
          res.on('aborted', () => resolve(`aborted after ${bytes}`));
        },
      );
      req.on('error', () => resolve('request error'));
      req.end();
    });
    expect(outcome).toMatch(/^aborted after \d+$/);
    expect(outcome).not.toBe('aborted after 100000');
    received(await send(app.url, '/after-drop', { headers: withCookie(cookie) }));
  });

  it('keeps portcullis paths local: its pages, unknown /auth paths and /scim/v2', async () => {
    const health = await send(app.url, '/auth/healthz');
    expect(health.body).toBe('ok\n');
    const unknown = await send(app.url, '/auth/nope', { headers: withCookie(cookie) });
    expect(unknown.status).toBe(404);
    expect(unknown.body).not.toContain('"sha256"');
    const scim = await send(app.url, '/scim/v2/Users', { headers: withCookie(cookie) });
    expect(scim.body).not.toContain('"sha256"');
    // A look-alike prefix is the app's.
    expect(received(await send(app.url, '/authors', { headers: withCookie(cookie) })).url).toBe(
      '/authors',
    );
  });

  it('sends the compatibility check paths to the upstream in proxy mode', async () => {
    expect(received(await send(app.url, '/oauth2/auth', { headers: withCookie(cookie) })).url).toBe(
      '/oauth2/auth',
    );
  });

  it('refuses an absolute-form request target', async () => {
    const answer = await send(app.url, 'http://evil.test/x', { headers: withCookie(cookie) });
    expect(answer.status).toBe(400);
  });

  it('lets an admin-group user in where the rule asks for the group', async () => {
    const user = await app.ctx.store.getUserByEmail('root@example.com');
    if (!user) throw new Error('no user');
    await app.ctx.store.updateUser({ ...user, groups: ['admins'] });
    await app.ctx.sessions.refreshUser(user.id);
    const echo = received(
      await send(app.url, '/admin/settings', { headers: withCookie(adminCookie) }),
    );
    expect(header(echo, 'remote-groups')).toEqual(['admins']);
  });
});

describe('reverse proxy: Host rewriting, untrusted clients, upstream down', () => {
  let upstream: EchoUpstream;
  let app: TestApp;
  let down: TestApp;
  let cookie: string;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: 'https://app.test', trusted_proxies: ['10.0.0.0/8'] },
      proxy: { upstream: `${upstream.url}/base/`, preserve_host: false },
    });
    cookie = await app.login('carol@example.com');
    down = await startTestApp({ proxy: { upstream: `http://127.0.0.1:${await freePort()}` } });
  });
  afterAll(async () => {
    await app?.close();
    await down?.close();
    await upstream?.close();
  });

  it('sends the upstream its own host when preserve_host is false, under its base path', async () => {
    const echo = received(
      await send(app.url, '/x?y=1', {
        headers: ['Host', 'app.test', 'Cookie', `portcullis_session=${cookie}`],
      }),
    );
    expect(echo.url).toBe('/base/x?y=1');
    expect(header(echo, 'host')).toEqual([`127.0.0.1:${upstream.port}`]);
    expect(header(echo, 'x-forwarded-host')).toEqual(['app.test']);
    // Not behind TLS here, but public_url says people arrive over https.
    expect(header(echo, 'x-forwarded-proto')).toEqual(['https']);
  });

  it('replaces forwarding headers from an untrusted client instead of believing them', async () => {
    const echo = received(
      await send(app.url, '/x', {
        headers: [
          'Host',
          'app.test',
          'Cookie',
          `portcullis_session=${cookie}`,
          'X-Forwarded-For',
          '198.51.100.1',
          'X-Forwarded-Host',
          'evil.test',
          'X-Forwarded-Proto',
          'http',
          'X-Real-IP',
          '198.51.100.1',
          'Forwarded',
          'for=198.51.100.1',
          'X-Original-URL',
          'http://evil.test/',
        ],
      }),
    );
    expect(header(echo, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(header(echo, 'x-forwarded-host')).toEqual(['app.test']);
    expect(header(echo, 'x-forwarded-proto')).toEqual(['https']);
    expect(header(echo, 'x-real-ip')).toEqual([]);
    expect(header(echo, 'forwarded')).toEqual([]);
    expect(header(echo, 'x-original-url')).toEqual([]);
  });

  it('uses the untrusted Host, not X-Forwarded-Host, for the login redirect', async () => {
    const answer = await send(app.url, '/p', {
      headers: ['Host', 'app.test', 'X-Forwarded-Host', 'evil.test', ...NAV],
    });
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe(
      `https://app.test/auth/login?rd=${encodeURIComponent('https://app.test/p')}`,
    );
  });

  it('answers 502 with a page when the upstream is down, JSON for API clients', async () => {
    const login = await down.login('dan@example.com');
    const page = await send(down.url, '/x', {
      headers: ['Host', '127.0.0.1', 'Cookie', `portcullis_session=${login}`, ...NAV],
    });
    expect(page.status).toBe(502);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('not reachable');
    const api = await send(down.url, '/x', {
      method: 'POST',
      headers: [
        'Host',
        '127.0.0.1',
        'Cookie',
        `portcullis_session=${login}`,
        'Accept',
        'application/json',
        'Content-Length',
        '2',
      ],
      body: '{}',
    });
    expect(api.status).toBe(502);
    expect(JSON.parse(api.body)).toMatchObject({ error: 'upstream_unavailable' });
    expect((await send(down.url, '/auth/healthz')).body).toBe('ok\n');
  });
});

interface OpenSocket {
  ws: WebSocket;
  /** The next message, from a queue filled since the socket was made (none is missed). */
  next(): Promise<string>;
  closed: Promise<number>;
}

/** Opens a WebSocket and resolves once open, or rejects with the refusal status and body. */
function openWs(url: string, headers: Record<string, string>): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const queue: string[] = [];
    const waiting: ((text: string) => void)[] = [];
    ws.on('message', (data) => {
      const text = String(data);
      const waiter = waiting.shift();
      if (waiter) waiter(text);
      else queue.push(text);
    });
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    const next = () =>
      new Promise<string>((r, fail) => {
        const queued = queue.shift();
        if (queued !== undefined) r(queued);
        else {
          waiting.push(r);
          void closed.then(() => fail(new Error('closed')));
        }
      });
    ws.once('open', () => resolve({ ws, next, closed }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c;
      });
      res.on('end', () =>
        reject(
          Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode, body }),
        ),
      );
    });
    ws.once('error', reject);
  });
}

describe('reverse proxy: WebSockets', () => {
  let upstream: EchoUpstream;
  let app: TestApp;
  let wsBase: string;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({
      proxy: { upstream: upstream.url },
      access: { rules: [{ path: '/admin/**', groups: ['admins'] }] },
    });
    wsBase = app.url.replace('http:', 'ws:');
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  it('refuses an upgrade without a session with 401 and the login URL', async () => {
    const error = (await openWs(`${wsBase}/comms`, {}).catch((e: unknown) => e)) as {
      status: number;
      body: string;
    };
    expect(error.status).toBe(401);
    expect(JSON.parse(error.body)).toMatchObject({ error: 'unauthenticated' });
    expect(upstream.wsHandshakes).toHaveLength(0);
  });

  it('refuses an upgrade the rules deny with 403', async () => {
    const cookie = await app.login('eve@example.com');
    const error = (await openWs(`${wsBase}/admin/ws`, {
      Cookie: `portcullis_session=${cookie}`,
    }).catch((e: unknown) => e)) as { status: number };
    expect(error.status).toBe(403);
  });

  it('carries messages both ways, with identity headers on the handshake and forged ones removed', async () => {
    const cookie = await app.login('frank@example.com');
    const socket = await openWs(`${wsBase}/comms?x=1`, {
      Cookie: `portcullis_session=${cookie}`,
      'Remote-User': 'admin',
    });
    const hello = JSON.parse(await socket.next()) as { hello: string; user: string };
    const me = await app.ctx.sessions.resolve(cookie);
    expect(hello).toEqual({
      hello: '/comms',
      user: me.kind === 'valid' ? me.live.user.username : 'none',
    });
    for (const text of ['one', 'two', 'x'.repeat(200_000)]) {
      socket.ws.send(text);
      expect(await socket.next()).toBe(text);
    }
    const handshake = upstream.wsHandshakes.at(-1);
    expect(handshake?.cookie).toBeUndefined();
    expect(handshake?.['x-forwarded-for']).toBe('127.0.0.1');
    socket.ws.close();
    expect(await socket.closed).toBe(1005);
  });

  it('relays the upstream refusing a handshake and closes the connection', async () => {
    const cookie = await app.login('gina@example.com');
    const error = (await openWs(`${wsBase}/ws-refuse`, {
      Cookie: `portcullis_session=${cookie}`,
    }).catch((e: unknown) => e)) as { status: number; body: string };
    expect(error.status).toBe(403);
    expect(error.body).toBe('upstream says no');
  });

  it('closes open sockets of a session as soon as it is revoked', async () => {
    const cookie = await app.login('hank@example.com');
    const socket = await openWs(`${wsBase}/comms`, { Cookie: `portcullis_session=${cookie}` });
    await socket.next();
    const me = await app.ctx.sessions.resolve(cookie);
    if (me.kind !== 'valid') throw new Error('no session');
    const started = Date.now();
    await app.ctx.sessions.revoke(me.live.session.id);
    expect(await socket.closed).toBe(1006);
    expect(Date.now() - started).toBeLessThan(1000);
    await waitFor(() => app.proxy?.openTunnels === 0, 5000, 'tunnel bookkeeping');
    // And the next handshake with that cookie is refused.
    const error = (await openWs(`${wsBase}/comms`, {
      Cookie: `portcullis_session=${cookie}`,
    }).catch((e: unknown) => e)) as { status: number };
    expect(error.status).toBe(401);
  });

  it('closes open sockets of a user deactivated without a revocation within a few seconds', async () => {
    const cookie = await app.login('ivy@example.com');
    const socket = await openWs(`${wsBase}/comms`, { Cookie: `portcullis_session=${cookie}` });
    await socket.next();
    const user = await app.ctx.store.getUserByEmail('ivy@example.com');
    if (!user) throw new Error('no user');
    const started = Date.now();
    await app.ctx.store.updateUser({ ...user, active: false });
    await socket.closed;
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses upgrades to portcullis paths and non-WebSocket upgrades', async () => {
    const cookie = await app.login('jack@example.com');
    const local = (await openWs(`${wsBase}/auth/ws`, {
      Cookie: `portcullis_session=${cookie}`,
    }).catch((e: unknown) => e)) as { status: number };
    expect(local.status).toBe(404);
  });
});
