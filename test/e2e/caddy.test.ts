import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySpellingScenarios } from '../fixtures/identity-spellings.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type CaddyServer, startCaddy } from '../helpers/caddy.js';
import { freePort } from '../helpers/ports.js';
import {
  echoed,
  HTML,
  type ProxyUnderTest,
  proxyScenarios,
  scenarioConfig,
  send,
} from '../helpers/proxy-scenarios.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

const EXAMPLE = new URL('../../examples/caddy/Caddyfile', import.meta.url);

function replaceExactly(text: string, from: string, to: string, times: number): string {
  const count = text.split(from).length - 1;
  if (count !== times) {
    throw new Error(`example changed: expected ${times} × "${from}", found ${count}`);
  }
  return text.split(from).join(to);
}

/** The shipped Caddyfile on test ports, plain http, no admin endpoint. */
function templated(ports: { listen: number; portcullis: number; app: number }): string {
  let file = readFileSync(EXAMPLE, 'utf8');
  const portcullis = `127.0.0.1:${ports.portcullis}`;
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
    `reverse_proxy 127.0.0.1:${ports.app}`,
    1,
  );
  file = replaceExactly(file, 'app.example.com {', `http://127.0.0.1:${ports.listen} {`, 1);
  return `{\n\tadmin off\n\tauto_https off\n}\n\n${file}`;
}

describe('Caddy forward_auth with examples/caddy/Caddyfile', () => {
  let caddy: CaddyServer | undefined;
  let app: TestApp | undefined;
  let upstream: EchoUpstream | undefined;
  let proxy: ProxyUnderTest;

  beforeAll(async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    upstream = await startEchoUpstream();
    app = await startTestApp(scenarioConfig(url));
    let connections = 0;
    app.server.on('connection', () => {
      connections += 1;
    });
    const portcullisPort = Number(new URL(app.url).port);
    caddy = await startCaddy(
      templated({ listen: port, portcullis: portcullisPort, app: upstream.port }),
      [port],
    );
    proxy = {
      url,
      app,
      upstream,
      portcullisConnections: () => connections,
      connectionNamedIdentity: 'dropped',
    };
  });

  afterAll(async () => {
    await caddy?.stop();
    await app?.close();
    await upstream?.close();
  });

  proxyScenarios(() => proxy);
  identitySpellingScenarios(() => ({
    url: proxy.url,
    real: { user: 'Remote-User', email: 'Remote-Email' },
    bypassPath: '/public/spellings',
    privatePath: '/private/spellings',
    signIn: async () => {
      const email = 'spelling@example.com';
      const cookie = await proxy.app.login(email);
      // The user headers carry the username (headers.user_value's default).
      const id = (await proxy.app.ctx.store.getUserByEmail(email))?.username ?? '';
      return { cookie, id, email };
    },
  }));

  it('answers fetch/XHR without a session with 401 JSON naming the login URL', async () => {
    const original = `${proxy.url}/private/api/items?page=2`;
    const login = `${proxy.url}/auth/login?rd=${encodeURIComponent(original)}`;
    for (const headers of [
      [
        ['Accept', '*/*'],
        ['Sec-Fetch-Mode', 'cors'],
      ],
      [
        ['Accept', HTML],
        ['X-Requested-With', 'XMLHttpRequest'],
      ],
      [['Accept', 'application/json']],
    ] as [string, string][][]) {
      const reply = await send(proxy.url, '/private/api/items?page=2', { headers });
      expect(reply.status).toBe(401);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(reply.body)).toEqual({ error: 'unauthenticated', login_url: login });
    }
  });

  it('sends a POST navigation without a session to the login page with 303', async () => {
    const reply = await send(proxy.url, '/private/form', {
      method: 'POST',
      headers: [
        ['Accept', HTML],
        ['Sec-Fetch-Mode', 'navigate'],
        ['Content-Type', 'application/x-www-form-urlencoded'],
      ],
      body: 'a=1',
    });
    expect(reply.status).toBe(303);
    expect(reply.headers.location).toBe(
      `${proxy.url}/auth/login?rd=${encodeURIComponent(`${proxy.url}/private/form`)}`,
    );
  });

  it('never hands the upstream Caddy placeholder text as an identity', async () => {
    const seen = echoed(await send(proxy.url, '/public/anonymous'));
    expect(JSON.stringify(seen.rawHeaders)).not.toContain('{http.');
    expect(seen.headers['remote-user']).toBeUndefined();
  });
});
