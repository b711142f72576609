import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parse } from 'yaml';
import { systemClock } from '../../src/core/clock.js';
import { AppTokenService } from '../../src/services/app-tokens.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { type RawReply, rawRequest } from '../helpers/raw-request.js';

/**
 * Every request Khoj's clients send (test/fixtures/khoj-clients.json, read from Khoj's source),
 * replayed through portcullis in proxy mode with examples/khoj/portcullis.yaml's settings in
 * front of a stand-in upstream that records what it got. With a portcullis app token in the
 * API-key field each request reaches the app as its user and without the token; preflights from
 * the Obsidian origins pass first; without a token each gets a 401 the client's origin can read.
 */

interface KhojRequest {
  client: string;
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  origin: string | null;
  also_origins?: string[];
  preflight: boolean;
  preflight_request?: { method: string; headers: Record<string, string> };
  body?: unknown;
}

const FIXTURE = JSON.parse(
  readFileSync(new URL('../fixtures/khoj-clients.json', import.meta.url), 'utf8'),
) as { requests: KhojRequest[] };

const EXAMPLE = parse(
  readFileSync(new URL('../../examples/khoj/portcullis.yaml', import.meta.url), 'utf8'),
) as Record<string, Record<string, unknown>>;

const IDENTITY = ['remote-user', 'remote-email', 'remote-name', 'remote-groups'];

/** Placeholders other than the token become plain values a URL can carry. */
function concrete(text: string, token: string): string {
  return text.replaceAll('<token>', token).replace(/<[^>]*>/g, 'x');
}

function header(reply: RawReply, name: string): string | undefined {
  return reply.headers.find(([n]) => n === name)?.[1];
}

interface Echo {
  method: string;
  url: string;
  headers: [string, string][];
}

describe("Khoj's clients through portcullis (proxy mode, examples/khoj settings)", () => {
  let upstream: EchoUpstream;
  let app: TestApp;
  let token = '';
  let username = '';
  const allowed = (EXAMPLE.cors?.allowed_origins as string[]) ?? [];

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    const config = structuredClone(EXAMPLE);
    delete (config.auth as Record<string, unknown>).secret_key; // the test key instead
    delete config.store; // in memory: tokens are made in-process on the same store
    config.proxy = { ...config.proxy, upstream: upstream.url };
    app = await startTestApp(config);
    const user = await app.ctx.users.findOrCreate('me@example.com');
    username = (await app.ctx.store.getUserByEmail('me@example.com'))?.username ?? '';
    const tokens = new AppTokenService(app.ctx.store, app.ctx.store, systemClock, {
      maxLifetimeMs: app.ctx.config.raw.tokens.max_lifetime,
    });
    const made = await tokens.create(user.id, 'obsidian');
    if (!made.ok) throw new Error(made.message);
    token = made.token;
  });

  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  it('the example allows the Obsidian origins and turns tokens on', () => {
    expect(allowed).toEqual(['app://obsidian.md', 'capacitor://localhost', 'http://localhost']);
    expect(app.ctx.config.raw.tokens.enabled).toBe(true);
  });

  function send(request: KhojRequest, origin: string | null, withToken: boolean) {
    const headers: [string, string][] = [['Host', 'localhost:4180']];
    for (const [name, value] of Object.entries(request.headers)) {
      if (!withToken && value.includes('<token>')) continue;
      headers.push([name, concrete(value, token)]);
    }
    if (origin !== null) headers.push(['Origin', origin]);
    const body =
      request.body === undefined
        ? ''
        : concrete(
            typeof request.body === 'string' ? request.body : JSON.stringify(request.body),
            token,
          );
    return rawRequest(app.url, request.method, concrete(request.path, token), headers, body);
  }

  for (const request of FIXTURE.requests.filter((r) => r.headers.Upgrade === undefined)) {
    const origins =
      request.origin === null ? [null] : [request.origin, ...(request.also_origins ?? [])];
    for (const origin of origins) {
      const label = `${request.client}: ${request.name}${origin ? ` from ${origin}` : ''}`;
      const originAllowed = origin !== null && allowed.includes(origin);

      if (request.preflight && request.preflight_request) {
        it(`${label}: the preflight ${originAllowed ? 'reaches the app as nobody' : 'is refused'}`, async () => {
          const before = upstream.requests.length;
          const pre = request.preflight_request as NonNullable<KhojRequest['preflight_request']>;
          const headers: [string, string][] = [['Host', 'localhost:4180']];
          for (const [name, value] of Object.entries(pre.headers)) {
            headers.push([name, value.replace('<origin>', origin ?? 'null')]);
          }
          const reply = await rawRequest(
            app.url,
            'OPTIONS',
            concrete(request.path, token),
            headers,
          );
          if (originAllowed) {
            expect(reply.status, reply.body).toBe(200);
            const echo = JSON.parse(reply.body) as Echo;
            expect(echo.method).toBe('OPTIONS');
            const names = echo.headers.map(([n]) => n.toLowerCase());
            for (const name of IDENTITY) expect(names).not.toContain(name);
          } else {
            // `Origin: null` (a file:// window) is not in the recipe's list: see the fixture's note.
            expect(reply.status).toBe(401);
            expect(header(reply, 'access-control-allow-origin')).toBeUndefined();
            expect(upstream.requests.length).toBe(before);
          }
        });
      }

      if (Object.values(request.headers).some((v) => v.includes('<token>'))) {
        it(`${label}: with a token it reaches the app as the user, without the token`, async () => {
          const reply = await send(request, origin, true);
          expect(reply.status, reply.body).toBe(200);
          const echo = JSON.parse(reply.body) as Echo;
          expect(echo.method).toBe(request.method);
          const got = (name: string) =>
            echo.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
          expect(got('remote-user')).toEqual([username]);
          expect(got('remote-email')).toEqual(['me@example.com']);
          expect(got('authorization')).toEqual([]);
          for (const [, value] of echo.headers) expect(value).not.toContain(token);
        });
      }

      it(`${label}: without a token it gets a 401 ${originAllowed ? 'its origin can read' : 'with no CORS headers'}`, async () => {
        const before = upstream.requests.length;
        const reply = await send(request, origin, false);
        expect(reply.status).toBe(401);
        expect(header(reply, 'www-authenticate')).toBe('Bearer realm="portcullis"');
        if (originAllowed) {
          expect(header(reply, 'access-control-allow-origin')).toBe(origin);
          expect(header(reply, 'vary')).toBe('Origin');
        } else {
          expect(header(reply, 'access-control-allow-origin')).toBeUndefined();
        }
        expect(upstream.requests.length).toBe(before);
      });
    }
  }

  it("Khoj's web app chat WebSocket opens with the session cookie and carries the identity", async () => {
    const cookie = await app.login('me@example.com');
    const port = new URL(app.url).port;
    const open = (headers: Record<string, string>) =>
      new Promise<{ hello?: string; status?: number }>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/api/chat/ws?client=web`, { headers });
        ws.once('message', (data) => {
          resolve({ hello: String(data) });
          ws.close();
        });
        ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
        ws.once('error', () => resolve({}));
      });
    const signedIn = await open({
      Host: 'localhost:4180',
      Origin: 'http://localhost:4180',
      Cookie: `portcullis_session=${cookie}`,
    });
    expect(JSON.parse(signedIn.hello ?? '{}')).toMatchObject({ user: username });
    const anonymous = await open({ Host: 'localhost:4180', Origin: 'http://localhost:4180' });
    expect(anonymous.status).toBe(401);
  });
});
