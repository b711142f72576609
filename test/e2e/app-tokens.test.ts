import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { AppTokenService } from '../../src/services/app-tokens.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { type RawReply, rawRequest } from '../helpers/raw-request.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/**
 * App tokens with real components: two portcullis instances sharing a real Redis (a token
 * revoked, or its user deactivated, is refused by the other instance within 1 s although that
 * instance had it cached), real nginx running examples/nginx/portcullis.conf, and the request
 * Traefik's forwardAuth sends, replayed.
 */

const EXAMPLE = new URL('../../examples/nginx/portcullis.conf', import.meta.url);

function header(reply: RawReply, name: string): string | undefined {
  return reply.headers.find(([n]) => n === name)?.[1];
}

async function mint(app: TestApp, email: string): Promise<{ token: string; id: string }> {
  const user = await app.ctx.users.findOrCreate(email);
  const service = new AppTokenService(app.ctx.store, app.ctx.store, systemClock, {
    maxLifetimeMs: 86_400_000,
  });
  const made = await service.create(user.id, 'e2e');
  if (!made.ok) throw new Error(made.message);
  return { token: made.token, id: made.record.id };
}

describe('two instances on one Redis: revocation and deactivation reach the other within 1 s', () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    const config = { store: { url: redis.url, key_prefix: 'tokens-e2e:' } };
    a = await startTestApp(config);
    b = await startTestApp(config);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  function check(app: TestApp, token: string): Promise<RawReply> {
    return rawRequest(app.url, 'GET', '/auth/nginx', [
      ['X-Original-URL', 'http://app.example.test/notes'],
      ['X-Original-Method', 'GET'],
      ['Authorization', `Bearer ${token}`],
    ]);
  }

  /** Polls until `app` refuses `token`; the ms it took. */
  async function msUntilRefused(app: TestApp, token: string): Promise<number> {
    const started = performance.now();
    for (;;) {
      const reply = await check(app, token);
      const elapsed = performance.now() - started;
      if (reply.status === 401) {
        expect(header(reply, 'www-authenticate')).toContain('error="invalid_token"');
        return elapsed;
      }
      expect(reply.status).toBe(200);
      if (elapsed > 5000) throw new Error('still allowed after 5 s');
    }
  }

  it('a token revoked through instance A is refused by instance B within 1 s', async () => {
    const { token, id } = await mint(a, 'rev@example.com');
    // B has the token cached (a check every few ms keeps it warm).
    expect((await check(b, token)).status).toBe(200);
    expect((await check(a, token)).status).toBe(200);
    const service = new AppTokenService(a.ctx.store, a.ctx.store, systemClock, {
      maxLifetimeMs: 86_400_000,
    });
    await service.revoke(id);
    expect(await msUntilRefused(b, token)).toBeLessThan(1200);
    expect(await msUntilRefused(a, token)).toBeLessThan(1200);
  });

  it("a user deactivated through instance A: B refuses the user's token within 1 s", async () => {
    const { token } = await mint(a, 'gone@example.com');
    expect((await check(b, token)).status).toBe(200);
    const user = await a.ctx.store.getUserByEmail('gone@example.com');
    if (!user) throw new Error('no user');
    await a.ctx.store.updateUser({ ...user, active: false });
    expect(await msUntilRefused(b, token)).toBeLessThan(1200);
  });
});

describe('real nginx with examples/nginx/portcullis.conf', () => {
  let nginx: NginxServer | undefined;
  let app: TestApp | undefined;
  let upstream: EchoUpstream | undefined;
  let url = '';
  let token = '';
  let username = '';

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: url },
      cors: { allowed_origins: ['app://obsidian.md'] },
      access: { default_policy: 'authenticated' },
    });
    token = (await mint(app, 'nginx@example.com')).token;
    username = (await app.ctx.store.getUserByEmail('nginx@example.com'))?.username ?? '';
    let conf = readFileSync(EXAMPLE, 'utf8');
    const swap = (from: string, to: string) => {
      if (!conf.includes(from)) throw new Error(`example changed: no "${from}"`);
      conf = conf.replace(from, to);
    };
    swap('server 127.0.0.1:4180;', `server 127.0.0.1:${new URL(app.url).port};`);
    swap('server 127.0.0.1:8080;', `server 127.0.0.1:${upstream.port};`);
    swap('listen 80;', `listen 127.0.0.1:${port};`);
    nginx = await startNginx(conf, [port]);
  });

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await upstream?.close();
  });

  const through = (method: string, path: string, headers: [string, string][]) =>
    rawRequest(url, method, path, [['Host', 'app.example.com'], ...headers]);

  it('lets a request with a token through, with the identity headers set by nginx', async () => {
    for (const headers of [
      [['Authorization', `Bearer ${token}`]],
      [['Authorization', `Basic ${Buffer.from(`khoj:${token}`).toString('base64')}`]],
      [['X-Portcullis-Token', token]],
    ] as [string, string][][]) {
      const reply = await through('GET', '/api/search?q=1', headers);
      expect(reply.status, reply.body).toBe(200);
      const echo = JSON.parse(reply.body) as { headers: [string, string][] };
      const user = echo.headers.filter(([n]) => n.toLowerCase() === 'remote-user');
      expect(user.map(([, v]) => v)).toEqual([username]);
    }
  });

  it('a refused token never reaches the app', async () => {
    const before = upstream?.requests.length ?? 0;
    for (const value of [`${token.slice(0, -1)}`, `pcx_${'A'.repeat(42)}A`]) {
      const reply = await through('GET', '/api/search', [['Authorization', `Bearer ${value}`]]);
      // The example's `error_page 401 =302 $portcullis_login` turns every 401 into the login
      // redirect: nginx cannot vary it by client (see the report / docs).
      expect([401, 302]).toContain(reply.status);
    }
    expect(upstream?.requests.length).toBe(before);
  });

  it('passes an allowed CORS preflight to the app with no identity', async () => {
    const reply = await through('OPTIONS', '/api/chat', [
      ['Origin', 'app://obsidian.md'],
      ['Access-Control-Request-Method', 'POST'],
      ['Access-Control-Request-Headers', 'authorization,content-type'],
    ]);
    expect(reply.status, reply.body).toBe(200);
    const echo = JSON.parse(reply.body) as { method: string; headers: [string, string][] };
    expect(echo.method).toBe('OPTIONS');
    // nginx sets Remote-* from the (empty) auth answer: present but empty, never a user.
    for (const [name, value] of echo.headers) {
      if (name.toLowerCase().startsWith('remote-')) expect(value).toBe('');
    }
  });

  it('does not pass a preflight from another origin', async () => {
    const before = upstream?.requests.length ?? 0;
    const reply = await through('OPTIONS', '/api/chat', [
      ['Origin', 'https://evil.example'],
      ['Access-Control-Request-Method', 'POST'],
    ]);
    expect(reply.status).not.toBe(200);
    expect(upstream?.requests.length).toBe(before);
  });
});

describe('Traefik forwardAuth replay with a token', () => {
  let app: TestApp;
  let token = '';

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: 'https://auth.example.com', trusted_proxies: ['127.0.0.1/32'] },
      cors: { allowed_origins: ['app://obsidian.md'] },
    });
    token = (await mint(app, 'traefik@example.com')).token;
  });

  afterAll(async () => {
    await app?.close();
  });

  /** What Traefik v3's forwardAuth sends: the client's headers plus its X-Forwarded-* set. */
  function forwardAuth(method: string, uri: string, client: [string, string][]) {
    return rawRequest(app.url, 'GET', '/auth/traefik', [
      ...client,
      ['X-Real-Ip', '198.51.100.23'],
      ['X-Forwarded-For', '198.51.100.23'],
      ['X-Forwarded-Method', method],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Port', '443'],
      ['X-Forwarded-Host', 'khoj.example.com'],
      ['X-Forwarded-Uri', uri],
      ['X-Forwarded-Server', 'traefik-5d8f7c'],
    ]);
  }

  it('allows the Obsidian plugin request with its token and names the user', async () => {
    const reply = await forwardAuth('POST', '/api/chat?client=obsidian', [
      ['Authorization', `Bearer ${token}`],
      ['Content-Type', 'application/json'],
      ['Origin', 'app://obsidian.md'],
      ['Sec-Fetch-Mode', 'cors'],
    ]);
    expect(reply.status).toBe(200);
    expect(header(reply, 'remote-email')).toBe('traefik@example.com');
  });

  it('passes its preflight without a credential and without identity', async () => {
    const reply = await forwardAuth('OPTIONS', '/api/chat?client=obsidian', [
      ['Origin', 'app://obsidian.md'],
      ['Access-Control-Request-Method', 'POST'],
      ['Access-Control-Request-Headers', 'authorization,content-type'],
    ]);
    expect(reply.status).toBe(200);
    expect(header(reply, 'remote-user')).toBeUndefined();
  });

  it('refuses a bad token with 401 JSON the plugin can read, never a redirect', async () => {
    const reply = await forwardAuth('GET', '/api/search?q=1', [
      ['Authorization', `Bearer ${token.slice(0, -2)}`],
      ['Origin', 'app://obsidian.md'],
      ['Accept', 'text/html'],
      ['Sec-Fetch-Mode', 'navigate'],
    ]);
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'invalid_token' });
    expect(header(reply, 'access-control-allow-origin')).toBe('app://obsidian.md');
    expect(header(reply, 'www-authenticate')).toBe(
      'Bearer realm="portcullis", error="invalid_token"',
    );
  });
});
