import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySpellingScenarios, type SpellingTarget } from '../fixtures/identity-spellings.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';
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

const EXAMPLE = new URL('../../examples/nginx/portcullis.conf', import.meta.url);
const SUBDOMAIN_EXAMPLE = new URL(
  '../../examples/nginx/portcullis-subdomain.conf',
  import.meta.url,
);

/** The spelling scenarios' view of a proxy: the app's identity arrives as Remote-*. */
function spellingTarget(
  url: string,
  app: () => TestApp,
  email: string,
  host?: string,
): SpellingTarget {
  return {
    url,
    host,
    real: { user: 'Remote-User', email: 'Remote-Email' },
    bypassPath: '/public/spellings',
    privatePath: '/private/spellings',
    signIn: async () => {
      const cookie = await app().login(email);
      // The user headers carry the username (headers.user_value's default).
      const id = (await app().ctx.store.getUserByEmail(email))?.username ?? '';
      return { cookie, id, email };
    },
  };
}

/** Replaces `from` with `to`, insisting it occurs exactly `times` times, so example drift fails here. */
function replaceExactly(text: string, from: string, to: string, times: number): string {
  const count = text.split(from).length - 1;
  if (count !== times) {
    throw new Error(`example changed: expected ${times} × "${from}", found ${count}`);
  }
  return text.split(from).join(to);
}

/** The shipped example with its addresses pointed at this test's processes. */
function templated(
  file: URL,
  ports: { listen: number; portcullis: number; app: number },
  listens: number,
): string {
  let conf = readFileSync(file, 'utf8');
  conf = replaceExactly(conf, 'server 127.0.0.1:4180;', `server 127.0.0.1:${ports.portcullis};`, 1);
  conf = replaceExactly(conf, 'server 127.0.0.1:8080;', `server 127.0.0.1:${ports.app};`, 1);
  conf = replaceExactly(conf, 'listen 80;', `listen 127.0.0.1:${ports.listen};`, listens);
  return conf;
}

function countConnections(app: TestApp): () => number {
  let connections = 0;
  app.server.on('connection', () => {
    connections += 1;
  });
  return () => connections;
}

describe('nginx auth_request with examples/nginx/portcullis.conf', () => {
  let nginx: NginxServer | undefined;
  let app: TestApp | undefined;
  let upstream: EchoUpstream | undefined;
  let proxy: ProxyUnderTest;

  beforeAll(async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    upstream = await startEchoUpstream();
    app = await startTestApp(scenarioConfig(url));
    const connections = countConnections(app);
    const portcullisPort = Number(new URL(app.url).port);
    nginx = await startNginx(
      templated(EXAMPLE, { listen: port, portcullis: portcullisPort, app: upstream.port }, 1),
      [port],
    );
    proxy = {
      url,
      app,
      upstream,
      portcullisConnections: connections,
      connectionNamedIdentity: 'kept',
    };
  });

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await upstream?.close();
  });

  proxyScenarios(() => proxy);
  identitySpellingScenarios(() =>
    spellingTarget(proxy.url, () => proxy.app, 'spelling@example.com'),
  );

  it('keeps nginx dropping `_` and `.` header names, written out in the example', () => {
    const conf = readFileSync(EXAMPLE, 'utf8');
    expect(conf).toMatch(/^\s*underscores_in_headers off;$/m);
    expect(conf).toMatch(/^\s*ignore_invalid_headers on;$/m);
  });

  it('answers API clients without a session with the same redirect (nginx cannot vary it)', async () => {
    const reply = await send(proxy.url, '/private/api', {
      headers: [
        ['Accept', 'application/json'],
        ['Sec-Fetch-Mode', 'cors'],
      ],
    });
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toMatch(/\/auth\/login\?rd=/);
  });

  it('does not let clients call the check location themselves', async () => {
    const app = proxy.app;
    const cookie = await app.login('grace@example.com');
    const reply = await send(proxy.url, '/auth/nginx', {
      headers: [
        ['Cookie', `portcullis_session=${cookie}`],
        ['X-Original-URL', `${proxy.url}/admin/x`],
      ],
    });
    expect(reply.status).toBe(404);
    expect(reply.headers['remote-user']).toBeUndefined();
  });

  it('checks the method nginx forwards (POST navigation without a session)', async () => {
    const reply = await send(proxy.url, '/private/form', {
      method: 'POST',
      headers: [
        ['Accept', HTML],
        ['Content-Type', 'application/x-www-form-urlencoded'],
      ],
      body: 'a=1',
    });
    expect(reply.status).toBe(302);
    const cookie = await proxy.app.login('heidi@example.com');
    const seen = echoed(
      await send(proxy.url, '/private/form', {
        method: 'POST',
        headers: [
          ['Cookie', `portcullis_session=${cookie}`],
          ['Content-Type', 'application/x-www-form-urlencoded'],
        ],
        body: 'a=1',
      }),
    );
    expect(seen.method).toBe('POST');
    expect(seen.headers['content-length']).toBe('3');
  });
});

describe('nginx auth_request with examples/nginx/portcullis-subdomain.conf', () => {
  let nginx: NginxServer | undefined;
  let app: TestApp | undefined;
  let upstream: EchoUpstream | undefined;
  let port = 0;
  const appHost = () => `app.example.com:${port}`;
  const authHost = () => `auth.example.com:${port}`;

  beforeAll(async () => {
    port = await freePort();
    upstream = await startEchoUpstream();
    app = await startTestApp({
      ...scenarioConfig(`http://${authHost()}`),
      session: { cookie_domain: '.example.com' },
    });
    const portcullisPort = Number(new URL(app.url).port);
    nginx = await startNginx(
      templated(
        SUBDOMAIN_EXAMPLE,
        { listen: port, portcullis: portcullisPort, app: upstream.port },
        2,
      ),
      [port],
    );
  });

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await upstream?.close();
  });

  const local = () => `http://127.0.0.1:${port}`;

  identitySpellingScenarios(() =>
    spellingTarget(local(), () => app as TestApp, 'spelling@example.com', appHost()),
  );

  it('sends a browser on the app host to the login page on the auth host', async () => {
    const reply = await send(local(), '/notes?id=7', {
      headers: [
        ['Host', appHost()],
        ['Accept', HTML],
      ],
    });
    expect(reply.status).toBe(302);
    const rd = `http://${appHost()}/notes?id=7`;
    expect(reply.headers.location).toBe(
      `http://${authHost()}/auth/login?rd=${encodeURIComponent(rd)}`,
    );
    const page = await send(local(), `/auth/login?rd=${encodeURIComponent(rd)}`, {
      headers: [
        ['Host', authHost()],
        ['Accept', HTML],
      ],
    });
    expect(page.status).toBe(200);
    // rd to a host under cookie_domain is honoured, not replaced by /.
    expect(page.body).toContain(rd);
  });

  it('passes the identity to the app and strips forged headers', async () => {
    const cookie = await (app as TestApp).login('ivan@example.com');
    const seen = echoed(
      await send(local(), '/notes', {
        headers: [
          ['Host', appHost()],
          ['Cookie', `portcullis_session=${cookie}`],
          ['Remote-User', 'forged-by-client'],
          ['remote_email', 'forged-by-client'],
        ],
      }),
    );
    const user = await (app as TestApp).ctx.store.getUserByEmail('ivan@example.com');
    expect(seen.headers['remote-user']).toBe(user?.username);
    expect(seen.headers['remote-email']).toBe('ivan@example.com');
    expect(JSON.stringify(seen.rawHeaders)).not.toContain('forged-by-client');
  });

  it('bypasses, denies and hides the check location on the app host', async () => {
    echoed(await send(local(), '/public/x', { headers: [['Host', appHost()]] }));
    const bob = await (app as TestApp).login('bob@example.com');
    const denied = await send(local(), '/admin/', {
      headers: [
        ['Host', appHost()],
        ['Cookie', `portcullis_session=${bob}`],
      ],
    });
    expect(denied.status).toBe(403);
    const hidden = await send(local(), '/_portcullis/check', { headers: [['Host', appHost()]] });
    expect(hidden.status).toBe(404);
  });
});
