import { request } from 'node:http';
import { expect, it } from 'vitest';
import type { TestApp } from './app.js';
import { type EchoedRequest, type EchoUpstream, rawValues } from './upstream.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request on a fresh connection, with header names sent exactly as given (fetch would
 * refuse or rewrite some of the spellings the forging tests need).
 */
export function send(
  baseUrl: string,
  path: string,
  options: { method?: string; headers?: [string, string][]; body?: string } = {},
): Promise<Reply> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: options.method ?? 'GET',
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    for (const [name, value] of options.headers ?? []) req.setHeader(name, value);
    req.end(options.body);
  });
}

/** The upstream's echo of the request, from the proxy's answer. */
export function echoed(reply: Reply): EchoedRequest {
  expect(reply.status, reply.body).toBe(200);
  expect(reply.headers['x-echo-upstream'], 'answer did not come from the upstream').toBe('1');
  return JSON.parse(reply.body) as EchoedRequest;
}

export const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const FORGED = 'forged-by-client';

/** A running proxy (nginx, Caddy) with portcullis and the echo upstream behind it. */
export interface ProxyUnderTest {
  /** `http://127.0.0.1:PORT` of the proxy; also portcullis' `server.public_url`. */
  url: string;
  app: TestApp;
  upstream: EchoUpstream;
  /** TCP connections portcullis has accepted so far. */
  portcullisConnections(): number;
  /**
   * What the upstream gets when a signed-in client names the identity headers in its own
   * `Connection:` header: nginx sets them after reading the client's headers (`kept`); Caddy's
   * proxy treats them as hop-by-hop and drops the real ones too (`dropped`: fails closed).
   */
  connectionNamedIdentity: 'kept' | 'dropped';
}

/** The portcullis config every proxy test runs with; `publicUrl` is the proxy's address. */
export function scenarioConfig(publicUrl: string): Record<string, unknown> {
  return {
    server: { public_url: publicUrl },
    access: {
      default_policy: 'authenticated',
      rules: [
        { path: '/public/**', policy: 'bypass' },
        { path: '/admin/**', groups: ['admins'] },
      ],
    },
  };
}

function cookieHeader(value: string): [string, string] {
  return ['Cookie', `portcullis_session=${value}`];
}

function setCookieValue(reply: Reply, name: string): string {
  const list = reply.headers['set-cookie'] ?? [];
  for (const line of Array.isArray(list) ? list : [list]) {
    const match = new RegExp(`^${name}=([^;]+)`).exec(line);
    if (match) return match[1] as string;
  }
  throw new Error(`no ${name} cookie in ${JSON.stringify(reply.headers)}`);
}

/** Every way a client might try to smuggle an identity past the proxy. */
const FORGERIES: { name: string; headers: [string, string][] }[] = [
  {
    name: 'Remote-User / Remote-Email',
    headers: [
      ['Remote-User', FORGED],
      ['Remote-Email', `${FORGED}@evil.test`],
    ],
  },
  {
    name: 'upper case',
    headers: [
      ['REMOTE-USER', FORGED],
      ['REMOTE-EMAIL', `${FORGED}@evil.test`],
    ],
  },
  {
    name: 'lower case',
    headers: [
      ['remote-user', FORGED],
      ['remote-groups', `admins,${FORGED}`],
    ],
  },
  {
    name: 'underscore',
    headers: [
      ['remote_user', FORGED],
      ['Remote_Email', `${FORGED}@evil.test`],
    ],
  },
  {
    name: 'dot',
    headers: [
      ['Remote.User', FORGED],
      ['Remote.Email', `${FORGED}@evil.test`],
    ],
  },
  {
    name: 'named in Connection',
    headers: [
      ['Connection', 'close, Remote-User, Remote-Email'],
      ['Remote-User', FORGED],
      ['Remote-Email', `${FORGED}@evil.test`],
    ],
  },
  {
    name: 'the other default identity names',
    headers: [
      ['Remote-Name', FORGED],
      ['Remote-Groups', FORGED],
      ['X-Auth-Request-User', FORGED],
      ['X-Auth-Request-Email', `${FORGED}@evil.test`],
      ['X-Auth-Request-Groups', FORGED],
    ],
  },
];

function forgedValues(seen: EchoedRequest): string[] {
  const out: string[] = [];
  for (let i = 1; i < seen.rawHeaders.length; i += 2) {
    const value = seen.rawHeaders[i] as string;
    if (value.includes(FORGED)) out.push(`${seen.rawHeaders[i - 1]}: ${value}`);
  }
  return out;
}

/**
 * The scenarios every real proxy example must pass. Registered inside a `describe` whose
 * `beforeAll` fills `get()`.
 */
export function proxyScenarios(get: () => ProxyUnderTest): void {
  it('sends a browser without a session to the login page, with rd = the original URL', async () => {
    const { url } = get();
    const original = `${url}/private/page?x=1&y=two`;
    const reply = await send(url, '/private/page?x=1&y=two', { headers: [['Accept', HTML]] });
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe(`${url}/auth/login?rd=${encodeURIComponent(original)}`);
    const page = await send(url, reply.headers.location as string, { headers: [['Accept', HTML]] });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('Sign in');
    expect(page.body).toContain(original.replace(/&/g, '&amp;'));
    expect(get().upstream.requests.some((r) => r.url.startsWith('/private/page'))).toBe(false);
  });

  it('signs in through the proxy with a one-time link and lands on the original URL', async () => {
    const { url, app } = get();
    const original = `${url}/private/after-login`;
    const link = new URL(await app.ctx.loginLinks.issue('dora@example.com', original));
    expect(link.origin).toBe(url);
    const confirm = await send(url, `${link.pathname}${link.search}`, {
      headers: [['Accept', HTML]],
    });
    expect(confirm.status).toBe(200);
    const csrf = setCookieValue(confirm, 'portcullis_csrf');
    expect(confirm.body).toContain(`value="${csrf}"`);
    const redeem = await send(url, '/auth/magic', {
      method: 'POST',
      headers: [
        ['Content-Type', 'application/x-www-form-urlencoded'],
        ['Cookie', `portcullis_csrf=${csrf}`],
        ['Origin', url],
        ['Accept', HTML],
      ],
      body: new URLSearchParams({
        token: link.searchParams.get('token') as string,
        csrf,
      }).toString(),
    });
    expect(redeem.status).toBe(303);
    expect(redeem.headers.location).toBe(original);
    const session = setCookieValue(redeem, 'portcullis_session');
    const seen = echoed(
      await send(url, '/private/after-login', {
        headers: [cookieHeader(session), ['Accept', HTML]],
      }),
    );
    expect(seen.url).toBe('/private/after-login');
    expect(seen.headers['remote-email']).toBe('dora@example.com');
  });

  it('passes the signed-in user to the upstream in the identity headers', async () => {
    const { url, app } = get();
    const cookie = await app.login('alice@example.com');
    const user = await app.ctx.store.getUserByEmail('alice@example.com');
    expect(user).not.toBeNull();
    const seen = echoed(
      await send(url, '/private/data?q=1', { headers: [cookieHeader(cookie), ['Accept', HTML]] }),
    );
    expect(seen.url).toBe('/private/data?q=1');
    expect(rawValues(seen, 'Remote-User')).toEqual([user?.username]);
    expect(rawValues(seen, 'Remote-Email')).toEqual(['alice@example.com']);
    expect(rawValues(seen, 'Remote-Name')).toEqual(['alice']);
  });

  for (const forgery of FORGERIES) {
    it(`never lets a client-sent identity reach the upstream (${forgery.name}), signed in`, async () => {
      const { url, app } = get();
      const cookie = await app.login('erin@example.com');
      const user = await app.ctx.store.getUserByEmail('erin@example.com');
      const seen = echoed(
        await send(url, '/private/forgery', {
          headers: [cookieHeader(cookie), ['Accept', HTML], ...forgery.headers],
        }),
      );
      expect(forgedValues(seen)).toEqual([]);
      const dropped =
        forgery.name === 'named in Connection' && get().connectionNamedIdentity === 'dropped';
      expect(rawValues(seen, 'Remote-User')).toEqual(dropped ? [] : [user?.username]);
      expect(rawValues(seen, 'Remote-Email')).toEqual(dropped ? [] : ['erin@example.com']);
    });

    it(`never lets a client-sent identity reach the upstream (${forgery.name}), no session, bypass path`, async () => {
      const { url } = get();
      const seen = echoed(
        await send(url, '/public/forgery', { headers: [['Accept', HTML], ...forgery.headers] }),
      );
      expect(forgedValues(seen)).toEqual([]);
      expect(rawValues(seen, 'Remote-User')).toEqual([]);
      expect(rawValues(seen, 'Remote-Email')).toEqual([]);
    });
  }

  it('lets a bypass path through without a session', async () => {
    const { url } = get();
    const seen = echoed(await send(url, '/public/health?probe=1'));
    expect(seen.url).toBe('/public/health?probe=1');
  });

  it('answers 403 to a signed-in user the rules deny, and lets a group member in', async () => {
    const { url, app } = get();
    const bob = await app.login('bob@example.com');
    const denied = await send(url, '/admin/settings', {
      headers: [cookieHeader(bob), ['Accept', HTML]],
    });
    expect(denied.status).toBe(403);
    expect(denied.headers['x-echo-upstream']).toBeUndefined();

    const carol = await app.ctx.users.findOrCreate('carol@example.com');
    await app.ctx.store.updateUser({ ...carol, groups: ['admins'] });
    const cookie = await app.login('carol@example.com');
    const seen = echoed(
      await send(url, '/admin/settings', { headers: [cookieHeader(cookie), ['Accept', HTML]] }),
    );
    expect(rawValues(seen, 'Remote-Groups')).toEqual(['admins']);
  });

  it('serves portcullis’ own pages through the proxy', async () => {
    const { url } = get();
    const login = await send(url, '/auth/login', { headers: [['Accept', HTML]] });
    expect(login.status).toBe(200);
    expect(login.body).toContain('Sign in');
    const health = await send(url, '/auth/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toBe('ok\n');
    const me = await send(url, '/auth/me', { headers: [['Accept', 'application/json']] });
    expect(me.status).toBe(401);
  });

  it('keeps its connections to portcullis alive across requests', async () => {
    const { url, app, portcullisConnections } = get();
    const cookie = await app.login('frank@example.com');
    const before = portcullisConnections();
    for (let i = 0; i < 50; i++) {
      const seen = echoed(
        await send(url, `/private/keepalive/${i}`, {
          headers: [cookieHeader(cookie), ['Accept', HTML]],
        }),
      );
      expect(seen.headers['remote-email']).toBe('frank@example.com');
    }
    const opened = portcullisConnections() - before;
    // 50 checks over fresh client connections; keep-alive to portcullis means a handful.
    expect(opened).toBeLessThanOrEqual(4);
  });
}
