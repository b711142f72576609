import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySpellingScenarios, sendRaw } from '../fixtures/identity-spellings.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { echoed, HTML, send } from '../helpers/proxy-scenarios.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

/**
 * A switch from oauth2-proxy: real nginx running oauth2-proxy's own documented auth_request
 * setup (examples/nginx/oauth2-proxy-migration.conf) with portcullis where oauth2-proxy was.
 */
const EXAMPLE = new URL('../../examples/nginx/oauth2-proxy-migration.conf', import.meta.url);

function replaceExactly(text: string, from: string, to: string): string {
  const count = text.split(from).length - 1;
  if (count !== 1) throw new Error(`example changed: expected 1 × "${from}", found ${count}`);
  return text.replace(from, to);
}

describe('nginx with oauth2-proxy’s auth_request config, portcullis behind it', () => {
  let nginx: NginxServer | undefined;
  let app: TestApp | undefined;
  let upstream: EchoUpstream | undefined;
  let url: string;
  let cookie: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: url },
      access: {
        rules: [
          { host: 'public.example.test', policy: 'bypass' },
          { path: '/public/**', policy: 'bypass' },
          { path: '/readonly/**', methods: ['GET'], policy: 'bypass' },
        ],
      },
    });
    let conf = readFileSync(EXAMPLE, 'utf8');
    conf = replaceExactly(
      conf,
      'server 127.0.0.1:4180;',
      `server 127.0.0.1:${new URL(app.url).port};`,
    );
    conf = replaceExactly(conf, 'server 127.0.0.1:8080;', `server 127.0.0.1:${upstream.port};`);
    conf = replaceExactly(conf, 'listen 80;', `listen 127.0.0.1:${port};`);
    nginx = await startNginx(conf, [port]);
    cookie = await app.login('alice@example.com');
  });

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await upstream?.close();
  });

  it('sends a visitor without a session to the login page, with the page they asked for', async () => {
    const reply = await send(url, '/notes/1?tab=2', { headers: [['Accept', HTML]] });
    expect(reply.status, nginx?.errorLog()).toBe(302);
    const rd = encodeURIComponent(`${url}/notes/1?tab=2`);
    expect(reply.headers.location).toBe(`${url}/auth/login?rd=${rd}`);
    expect(upstream?.requests.map((r) => r.url)).not.toContain('/notes/1?tab=2');
    // The login page it names is served through the same nginx.
    const login = await send(url, `/auth/login?rd=${rd}`, { headers: [['Accept', HTML]] });
    expect(login.status).toBe(200);
    expect(login.body).toContain('<form');
  });

  it('lets a signed-in user through with X-User / X-Email from X-Auth-Request-*', async () => {
    const reply = await send(url, '/notes/1', {
      headers: [
        ['Accept', HTML],
        ['Cookie', `portcullis_session=${cookie}`],
        ['X-Email', 'forged@example.com'],
      ],
    });
    const seen = echoed(reply);
    expect(seen.url).toBe('/notes/1');
    expect(seen.headers['x-email']).toBe('alice@example.com');
    expect(seen.headers['x-user']).toBeTruthy();
  });

  it('/oauth2/start?rd= and /oauth2/sign_out answer as oauth2-proxy users expect', async () => {
    const start = await send(url, `/oauth2/start?rd=${encodeURIComponent('/reports')}`);
    expect(start.status).toBe(302);
    expect(start.headers.location).toBe(
      `${url}/auth/login?rd=${encodeURIComponent(`${url}/reports`)}`,
    );
    const out = await send(url, '/oauth2/sign_out');
    expect(out.status).toBe(302);
    expect(out.headers.location).toBe(`${url}/auth/logout`);
  });

  it('never sends anyone off-site', async () => {
    for (const rd of ['https://evil.example.net/', '//evil.example.net/', '/\\evil.example.net']) {
      const reply = await send(url, `/oauth2/sign_in?rd=${encodeURIComponent(rd)}`);
      expect(reply.status, rd).toBe(302);
      expect(reply.headers.location, rd).toBe(`${url}/auth/login`);
    }
    // A Host the proxy passes on that is not ours is no destination either.
    const reply = await send(url, '/oauth2/sign_in', {
      headers: [['Host', 'evil.example.net']],
    });
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe(`${url}/auth/login`);
  });

  identitySpellingScenarios(() => ({
    url,
    real: { user: 'X-User', email: 'X-Email' },
    bypassPath: '/public/spellings',
    privatePath: '/private/spellings',
    signIn: async () => {
      const seen = echoed(
        await send(url, '/private/clean', {
          headers: [['Cookie', `portcullis_session=${cookie}`]],
        }),
      );
      return { cookie, id: seen.headers['x-user'] as string, email: 'alice@example.com' };
    },
  }));

  const LOGIN = /\/auth\/login\?rd=/;

  it.each([
    ['X-Original-URL naming a bypass host', ['X-Original-URL', 'http://public.example.test/']],
    ['X-Original-URL naming a bypass path', ['X-Original-URL', '/public/x']],
    ['X-Forwarded-Host naming a bypass host', ['X-Forwarded-Host', 'public.example.test']],
    ['X-Forwarded-Uri naming a bypass path', ['X-Forwarded-Uri', '/public/x']],
    ['X-Forwarded-Method GET on a GET-only bypass', ['X-Forwarded-Method', 'GET']],
    ['X-Original-Method GET on a GET-only bypass', ['X-Original-Method', 'GET']],
  ])('a client-sent %s cannot open a protected page', async (_name, header) => {
    const path = header[0]?.endsWith('Method') ? '/readonly/x' : '/private/x';
    const reply = await sendRaw(url, path, [...header, 'Accept', HTML], {
      method: header[0]?.endsWith('Method') ? 'POST' : 'GET',
    });
    expect(reply.headers['x-echo-upstream'], reply.body).toBeUndefined();
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toMatch(LOGIN);
  });

  it('decides a POST as a POST: a GET-only bypass rule does not let it through', async () => {
    const get = await send(url, '/readonly/x');
    expect(echoed(get).method).toBe('GET');
    const post = await send(url, '/readonly/x', { method: 'POST', body: 'a=1' });
    expect(post.headers['x-echo-upstream']).toBeUndefined();
    expect(post.status).toBe(302);
    expect(post.headers.location).toMatch(LOGIN);
  });

  it('still lets a bypass path through, so the refusals above come from the rules', async () => {
    expect(echoed(await send(url, '/public/x')).url).toBe('/public/x');
  });
});
