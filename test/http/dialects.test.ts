import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * One scenario table, run against every check endpoint (SPEC §3). Each dialect says how the
 * proxy describes the original request and how the answer is worded; the decisions are the same.
 */

const PUBLIC_URL = 'https://auth.example.com';
const APP = 'https://app.example.com';

/**
 * original: nginx's X-Original-URL/-Method; forwarded: Traefik's X-Forwarded-*; oauth2:
 * oauth2-proxy's nginx setup (Host, X-Forwarded-Uri/-Proto, plus the method).
 */
type Encoding = 'original' | 'forwarded' | 'oauth2';
/** nginx: 401 + Location; traefik: 302/303 or 401 JSON; oauth2: 202 / 401. */
type Wording = 'nginx' | 'traefik' | 'oauth2';

interface Dialect {
  path: string;
  encoding: Encoding;
  wording: Wording;
}

const DIALECTS: Dialect[] = [
  { path: '/auth/nginx', encoding: 'original', wording: 'nginx' },
  { path: '/auth/traefik', encoding: 'forwarded', wording: 'traefik' },
  { path: '/oauth2/auth', encoding: 'oauth2', wording: 'oauth2' },
  { path: '/api/authz/auth-request', encoding: 'original', wording: 'nginx' },
  { path: '/api/authz/forward-auth', encoding: 'forwarded', wording: 'traefik' },
  { path: '/api/verify', encoding: 'original', wording: 'nginx' },
  { path: '/api/verify', encoding: 'forwarded', wording: 'traefik' },
];

type Who = 'nobody' | 'alice' | 'carol' | 'garbage';
type Client = 'navigation' | 'fetch' | 'xhr' | 'json';

interface Scenario {
  name: string;
  who: Who;
  method: string;
  uri: string;
  client: Client;
  /** allow-named: 2xx with the user's headers; allow-anonymous: 2xx with none. */
  expect: 'allow-named' | 'allow-anonymous' | 'login' | 'deny';
}

const SCENARIOS: Scenario[] = [
  {
    name: 'signed-in user',
    who: 'alice',
    method: 'GET',
    uri: '/notes?id=1',
    client: 'navigation',
    expect: 'allow-named',
  },
  {
    name: 'signed-in API call',
    who: 'alice',
    method: 'POST',
    uri: '/api/items',
    client: 'fetch',
    expect: 'allow-named',
  },
  {
    name: 'no session, GET navigation',
    who: 'nobody',
    method: 'GET',
    uri: '/notes?id=1&x=%2F',
    client: 'navigation',
    expect: 'login',
  },
  {
    name: 'no session, POST navigation',
    who: 'nobody',
    method: 'POST',
    uri: '/notes',
    client: 'navigation',
    expect: 'login',
  },
  {
    name: 'no session, HEAD navigation',
    who: 'nobody',
    method: 'HEAD',
    uri: '/notes',
    client: 'navigation',
    expect: 'login',
  },
  {
    name: 'no session, fetch()',
    who: 'nobody',
    method: 'GET',
    uri: '/api/items',
    client: 'fetch',
    expect: 'login',
  },
  {
    name: 'no session, XHR',
    who: 'nobody',
    method: 'DELETE',
    uri: '/api/items/3',
    client: 'xhr',
    expect: 'login',
  },
  {
    name: 'no session, JSON client',
    who: 'nobody',
    method: 'GET',
    uri: '/api/items',
    client: 'json',
    expect: 'login',
  },
  {
    name: 'garbage cookie',
    who: 'garbage',
    method: 'GET',
    uri: '/notes',
    client: 'navigation',
    expect: 'login',
  },
  {
    name: 'bypass, no session',
    who: 'nobody',
    method: 'GET',
    uri: '/public/logo.png',
    client: 'navigation',
    expect: 'allow-anonymous',
  },
  {
    name: 'bypass, signed in',
    who: 'alice',
    method: 'GET',
    uri: '/public/logo.png',
    client: 'navigation',
    expect: 'allow-named',
  },
  {
    name: 'bypass through dot segments',
    who: 'nobody',
    method: 'GET',
    uri: '/public/../admin/x',
    client: 'navigation',
    expect: 'login',
  },
  {
    name: 'bypass through encoded dots',
    who: 'nobody',
    method: 'GET',
    uri: '/public/%2e%2e/admin/x',
    client: 'navigation',
    expect: 'login',
  },
  {
    name: 'bypass through an encoded slash',
    who: 'nobody',
    method: 'GET',
    uri: '/public%2F..%2Fadmin/x',
    client: 'navigation',
    expect: 'login',
  },
  {
    name: 'bypass through ; parameters',
    who: 'nobody',
    method: 'GET',
    uri: '/public;x=1/../admin',
    client: 'navigation',
    expect: 'login',
  },
  {
    name: 'bypass through a query that looks like a path',
    who: 'nobody',
    method: 'GET',
    uri: '/admin/x?/public/',
    client: 'navigation',
    expect: 'login',
  },
  {
    name: 'group rule, member',
    who: 'carol',
    method: 'GET',
    uri: '/admin/users',
    client: 'navigation',
    expect: 'allow-named',
  },
  {
    name: 'group rule, not a member',
    who: 'alice',
    method: 'GET',
    uri: '/admin/users',
    client: 'navigation',
    expect: 'deny',
  },
  {
    name: 'group rule, not a member, case trick',
    who: 'alice',
    method: 'GET',
    uri: '/ADMIN/users',
    client: 'navigation',
    expect: 'deny',
  },
  {
    name: 'deny rule, signed in',
    who: 'alice',
    method: 'GET',
    uri: '/blocked/x',
    client: 'navigation',
    expect: 'deny',
  },
  {
    name: 'deny rule, signed in, API client',
    who: 'alice',
    method: 'POST',
    uri: '/blocked/x',
    client: 'json',
    expect: 'deny',
  },
  {
    name: 'deny rule, no session',
    who: 'nobody',
    method: 'GET',
    uri: '/blocked/x',
    client: 'fetch',
    expect: 'login',
  },
];

const CLIENT_HEADERS: Record<Client, [string, string][]> = {
  navigation: [
    ['Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
    ['Sec-Fetch-Mode', 'navigate'],
    ['Sec-Fetch-Dest', 'document'],
  ],
  fetch: [
    ['Accept', '*/*'],
    ['Sec-Fetch-Mode', 'cors'],
  ],
  xhr: [
    ['Accept', 'text/html, */*'],
    ['X-Requested-With', 'XMLHttpRequest'],
  ],
  json: [['Accept', 'application/json']],
};

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(url: string, method: string, headers: [string, string][]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    for (const [name, value] of headers) req.setHeader(name, value);
    req.end();
  });
}

/** The headers a proxy of this kind sends to describe the original request. */
function describeTarget(encoding: Encoding, method: string, uri: string): [string, string][] {
  const url = new URL(APP);
  if (encoding === 'original') {
    return [
      ['X-Original-URL', `${APP}${uri}`],
      ['X-Original-Method', method],
    ];
  }
  if (encoding === 'oauth2') {
    return [
      ['Host', url.host],
      ['X-Forwarded-Proto', url.protocol.slice(0, -1)],
      ['X-Forwarded-Uri', uri],
      ['X-Forwarded-Method', method],
    ];
  }
  return [
    ['X-Forwarded-Method', method],
    ['X-Forwarded-Proto', url.protocol.slice(0, -1)],
    ['X-Forwarded-Host', url.host],
    ['X-Forwarded-Uri', uri],
    ['X-Forwarded-For', '203.0.113.9'],
  ];
}

const IDENTITY_HEADERS = [
  'remote-user',
  'remote-email',
  'remote-name',
  'remote-groups',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-groups',
  'x-auth-request-preferred-username',
];

function loginUrlFor(uri: string): string {
  return `${PUBLIC_URL}/auth/login?rd=${encodeURIComponent(`${APP}${uri}`)}`;
}

describe('forward-auth dialects: one scenario table', () => {
  let app: TestApp;
  const cookies = new Map<Who, string>();
  const ids = new Map<Who, string>();

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: PUBLIC_URL },
      access: {
        default_policy: 'authenticated',
        rules: [
          { host: 'app.example.com', path: '/public/**', policy: 'bypass' },
          { path: '/admin/**', groups: ['admins'] },
          { path: '/blocked/**', policy: 'deny' },
        ],
      },
    });
    const carol = await app.ctx.users.findOrCreate('carol@example.com');
    await app.ctx.store.updateUser({ ...carol, name: 'Carol Q', groups: ['admins', 'staff'] });
    for (const who of ['alice', 'carol'] as const) {
      cookies.set(who, await app.login(`${who}@example.com`));
      // What the user headers carry: the username (headers.user_value's default).
      ids.set(who, (await app.ctx.store.getUserByEmail(`${who}@example.com`))?.username ?? '');
    }
    cookies.set('garbage', 'eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0.');
  });

  afterAll(async () => {
    await app.close();
  });

  for (const dialect of DIALECTS) {
    describe(`${dialect.path} (${dialect.encoding} headers)`, () => {
      for (const scenario of SCENARIOS) {
        it(scenario.name, async () => {
          const headers = [
            ...describeTarget(dialect.encoding, scenario.method, scenario.uri),
            ...CLIENT_HEADERS[scenario.client],
          ];
          const cookie = cookies.get(scenario.who);
          if (cookie) headers.push(['Cookie', `portcullis_session=${cookie}`]);
          const reply = await send(`${app.url}${dialect.path}`, 'GET', headers);
          assertAnswer(dialect, scenario, reply);
        });
      }
    });
  }

  function assertAnswer(dialect: Dialect, scenario: Scenario, reply: Reply): void {
    const named = IDENTITY_HEADERS.filter((name) => reply.headers[name] !== undefined);
    if (scenario.expect === 'allow-named' || scenario.expect === 'allow-anonymous') {
      expect(reply.status).toBe(dialect.wording === 'oauth2' ? 202 : 200);
      expect(reply.headers['content-length']).toBe('0');
      if (scenario.expect === 'allow-anonymous') {
        expect(named).toEqual([]);
        return;
      }
      const email = `${scenario.who}@example.com`;
      const groups = scenario.who === 'carol' ? 'admins,staff' : '';
      if (dialect.wording === 'oauth2') {
        expect(reply.headers['x-auth-request-user']).toBe(ids.get(scenario.who));
        expect(reply.headers['x-auth-request-email']).toBe(email);
        expect(reply.headers['x-auth-request-groups']).toBe(groups);
        expect(reply.headers['x-auth-request-preferred-username']).toBe(scenario.who);
      } else {
        expect(reply.headers['remote-user']).toBe(ids.get(scenario.who));
        expect(reply.headers['remote-email']).toBe(email);
        expect(reply.headers['remote-name']).toBe(scenario.who === 'carol' ? 'Carol Q' : 'alice');
        expect(reply.headers['remote-groups']).toBe(groups);
      }
      return;
    }
    // Anything but "allow" must never be 2xx and never name anyone.
    expect(named).toEqual([]);
    if (scenario.expect === 'deny') {
      expect(reply.status).toBe(403);
      expect(reply.headers['cache-control']).toBe('no-store');
      // SPEC §5: JSON for an API client, a short page for a person (Traefik shows it).
      if (scenario.client === 'json') {
        expect(reply.headers['content-type']).toMatch(/^application\/json/);
        expect(JSON.parse(reply.body)).toMatchObject({ error: 'forbidden' });
      } else {
        expect(reply.headers['content-type']).toMatch(/^text\/html/);
        expect(reply.body).toContain('This account may not open this page');
      }
      return;
    }
    const login = loginUrlFor(scenario.uri);
    if (dialect.wording === 'nginx') {
      // nginx turns a 302 from auth_request into a 500: 401 + Location, for every client.
      expect(reply.status).toBe(401);
      expect(reply.headers.location).toBe(login);
      expect(reply.headers['content-length']).toBe('0');
      return;
    }
    if (dialect.wording === 'oauth2') {
      expect(reply.status).toBe(401);
      return;
    }
    if (scenario.client === 'navigation') {
      const safe = scenario.method === 'GET' || scenario.method === 'HEAD';
      expect(reply.status).toBe(safe ? 302 : 303);
      expect(reply.headers.location).toBe(login);
      return;
    }
    expect(reply.status).toBe(401);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(reply.body)).toEqual({ error: 'unauthenticated', login_url: login });
  }

  describe('HEAD checks carry no body', () => {
    /** Raw bytes, so a body the HTTP client would hide for HEAD is still seen. */
    function rawHead(path: string, headers: [string, string][]): Promise<string> {
      const { port } = new URL(app.url);
      return new Promise((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1');
        let data = '';
        socket.on('data', (chunk: Buffer) => {
          data += chunk.toString('latin1');
        });
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
        const lines = [`HEAD ${path} HTTP/1.1`, 'Connection: close'];
        if (!headers.some(([name]) => name === 'Host')) lines.push('Host: portcullis');
        for (const [name, value] of headers) lines.push(`${name}: ${value}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
    }

    for (const dialect of DIALECTS) {
      for (const client of ['fetch', 'navigation'] as const) {
        it(`${dialect.path} (${dialect.encoding}), ${client} without a session`, async () => {
          const raw = await rawHead(dialect.path, [
            ...describeTarget(dialect.encoding, 'GET', '/notes'),
            ...CLIENT_HEADERS[client],
          ]);
          const end = raw.indexOf('\r\n\r\n');
          expect(end).toBeGreaterThan(0);
          expect(raw).toMatch(/^HTTP\/1\.1 (302|401) /);
          expect(raw.slice(end + 4)).toBe('');
        });
      }
      it(`${dialect.path} (${dialect.encoding}), denied`, async () => {
        const raw = await rawHead(dialect.path, [
          ...describeTarget(dialect.encoding, 'GET', '/blocked/x'),
          ['Cookie', `portcullis_session=${cookies.get('alice')}`],
        ]);
        expect(raw).toMatch(/^HTTP\/1\.1 403 /);
        expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe('');
      });
    }
  });

  describe('HEAD asked about, GET asking', () => {
    // Traefik asks with GET and names the original method in X-Forwarded-Method.
    for (const dialect of DIALECTS) {
      it(`${dialect.path} (${dialect.encoding}), denied HEAD: 403 without a body`, async () => {
        const reply = await send(`${app.url}${dialect.path}`, 'GET', [
          ...describeTarget(dialect.encoding, 'HEAD', '/blocked/x'),
          ...CLIENT_HEADERS.navigation,
          ['Cookie', `portcullis_session=${cookies.get('alice')}`],
        ]);
        expect(reply.status).toBe(403);
        expect(reply.headers['content-length']).toBe('0');
        expect(reply.body).toBe('');
      });
    }
  });

  describe('/api/verify reads X-Original-URI + Host as ingress-nginx sends them', () => {
    const ask = (uri: string, who: Who) =>
      send(`${app.url}/api/verify`, 'GET', [
        ['X-Original-URI', uri],
        ['X-Original-Method', 'GET'],
        ['X-Forwarded-Proto', 'https'],
        ['Host', 'app.example.com'],
        ['Cookie', `portcullis_session=${cookies.get(who)}`],
      ]);

    it('allows by the path it names', async () => {
      const reply = await ask('/notes?id=1', 'alice');
      expect(reply.status).toBe(200);
      expect(reply.headers['remote-email']).toBe('alice@example.com');
    });

    it('denies by the path it names', async () => {
      expect((await ask('/blocked/x', 'alice')).status).toBe(403);
    });

    it('asks for a login with the URL it names (nginx wording)', async () => {
      const reply = await send(`${app.url}/api/verify`, 'GET', [
        ['X-Original-URI', '/notes'],
        ['Host', 'app.example.com'],
        ['X-Forwarded-Proto', 'https'],
      ]);
      expect(reply.status).toBe(401);
      expect(reply.headers.location).toBe(loginUrlFor('/notes'));
    });
  });

  describe('/oauth2/auth allowed_* parameters', () => {
    const cases: { query: string; who: Who; status: number }[] = [
      { query: 'allowed_groups=admins', who: 'carol', status: 202 },
      { query: 'allowed_groups=admins', who: 'alice', status: 403 },
      { query: 'allowed_groups=ops,staff', who: 'carol', status: 202 },
      { query: 'allowed_emails=alice@example.com', who: 'alice', status: 202 },
      { query: 'allowed_emails=alice@example.com', who: 'carol', status: 403 },
      { query: 'allowed_emails=ALICE@example.com,bob@example.com', who: 'alice', status: 202 },
      { query: 'allowed_email_domains=example.com', who: 'alice', status: 202 },
      { query: 'allowed_email_domains=example.org', who: 'alice', status: 403 },
      { query: 'allowed_email_domains=ample.com', who: 'alice', status: 403 },
      {
        query: 'allowed_groups=admins&allowed_email_domains=example.org',
        who: 'carol',
        status: 403,
      },
      { query: 'allowed_groups=admins', who: 'nobody', status: 401 },
      { query: 'allowed_emails=alice@example.com', who: 'garbage', status: 401 },
    ];
    for (const { query, who, status } of cases) {
      it(`?${query} as ${who} → ${status}`, async () => {
        const headers = describeTarget('oauth2', 'GET', '/notes');
        const cookie = cookies.get(who);
        if (cookie) headers.push(['Cookie', `portcullis_session=${cookie}`]);
        const reply = await send(`${app.url}/oauth2/auth?${query}`, 'GET', headers);
        expect(reply.status).toBe(status);
        expect(reply.headers['x-auth-request-email'] !== undefined).toBe(status === 202);
      });
    }
  });
});

describe("compatibility paths keep their tools' header names when `headers:` is changed", () => {
  let app: TestApp;
  let cookie: string;

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: PUBLIC_URL },
      headers: { user: ['X-User'], email: ['X-Email'], name: [], groups: ['remote-groups'] },
    });
    cookie = await app.login('alice@example.com');
  });

  afterAll(async () => {
    await app.close();
  });

  const ask = (path: string) =>
    send(`${app.url}${path}`, 'GET', [
      ...describeTarget(path === '/oauth2/auth' ? 'oauth2' : 'original', 'GET', '/notes'),
      ['Cookie', `portcullis_session=${cookie}`],
    ]);

  it('/auth/nginx sends exactly the configured names', async () => {
    const reply = await ask('/auth/nginx');
    expect(reply.status).toBe(200);
    expect(reply.headers['x-user']).toBeDefined();
    expect(reply.headers['x-email']).toBe('alice@example.com');
    expect(reply.headers['remote-groups']).toBe('');
    expect(IDENTITY_HEADERS.filter((name) => reply.headers[name] !== undefined)).toEqual([
      'remote-groups',
    ]);
  });

  it("/oauth2/auth adds oauth2-proxy's X-Auth-Request-* names", async () => {
    const reply = await ask('/oauth2/auth');
    expect(reply.status).toBe(202);
    expect(reply.headers['x-user']).toBe(reply.headers['x-auth-request-user']);
    expect(reply.headers['x-auth-request-email']).toBe('alice@example.com');
    expect(reply.headers['x-auth-request-groups']).toBe('');
    expect(reply.headers['x-auth-request-preferred-username']).toBe('alice');
  });

  for (const path of ['/api/authz/auth-request', '/api/verify']) {
    it(`${path} adds Authelia's Remote-* names (once each)`, async () => {
      const reply = await ask(path);
      expect(reply.status).toBe(200);
      expect(reply.headers['x-email']).toBe('alice@example.com');
      expect(reply.headers['remote-email']).toBe('alice@example.com');
      expect(reply.headers['remote-user']).toBe(reply.headers['x-user']);
      expect(reply.headers['remote-name']).toBe('alice');
      expect(reply.headers['remote-groups']).toBe('');
    });
  }
});

describe('forward-auth dialects from an untrusted address', () => {
  let app: TestApp;
  let cookie: string;

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: PUBLIC_URL, trusted_proxies: ['10.0.0.0/8'] },
    });
    cookie = await app.login('alice@example.com');
  });

  afterAll(async () => {
    await app.close();
  });

  for (const dialect of DIALECTS) {
    it(`${dialect.path} (${dialect.encoding}) ignores the forwarded headers and answers 400`, async () => {
      const reply = await send(`${app.url}${dialect.path}`, 'GET', [
        ...describeTarget(dialect.encoding, 'GET', '/notes'),
        ['Cookie', `portcullis_session=${cookie}`],
      ]);
      expect(reply.status).toBe(400);
      expect(IDENTITY_HEADERS.filter((name) => reply.headers[name] !== undefined)).toEqual([]);
      expect(reply.headers['content-type']).toMatch(/^text\/html/);
      expect(reply.body).toContain('trusted_proxies');
    });
  }

  it('says the same 400 as JSON to an API client', async () => {
    const reply = await send(`${app.url}/auth/traefik`, 'GET', [
      ...describeTarget('forwarded', 'GET', '/notes'),
      ['Accept', 'application/json'],
    ]);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'bad_request' });
  });
});
