import { describe, expect, it } from 'vitest';
import type { UserDirectory } from '../../src/ports/store.js';
import type { UserService } from '../../src/services/users.js';
import type { Reply } from './proxy-scenarios.js';

/**
 * The forward-auth dialect scenario table (SPEC §3), written once and run over two transports:
 * real sockets (test/http/dialects.test.ts) and the check pipeline in-process
 * (test/unit/check-pipeline.test.ts). Each transport turns its answer into a `Seen`; the
 * expectations below read what it saw. A socket sees the reply as sent (status, wording, body);
 * in-process sees the decision, the prepared header list and the reason, which no socket shows.
 */

export const PUBLIC_URL = 'https://auth.example.com';
export const APP = 'https://app.example.com';

/**
 * original: nginx's X-Original-URL/-Method; forwarded: Traefik's X-Forwarded-*; oauth2:
 * oauth2-proxy's nginx setup (Host, X-Forwarded-Uri/-Proto, plus the method).
 */
export type Encoding = 'original' | 'forwarded' | 'oauth2';
/** nginx: 401 + Location; traefik: 302/303 or 401 JSON; oauth2: 202 / 401. */
export type Wording = 'nginx' | 'traefik' | 'oauth2';

export interface Dialect {
  path: string;
  encoding: Encoding;
  wording: Wording;
}

/** Every check path, by the headers that name the request asked about (hostile-input too). */
export const DIALECTS: readonly Dialect[] = [
  { path: '/auth/nginx', encoding: 'original', wording: 'nginx' },
  { path: '/auth/traefik', encoding: 'forwarded', wording: 'traefik' },
  { path: '/oauth2/auth', encoding: 'oauth2', wording: 'oauth2' },
  { path: '/api/authz/auth-request', encoding: 'original', wording: 'nginx' },
  { path: '/api/authz/forward-auth', encoding: 'forwarded', wording: 'traefik' },
  { path: '/api/verify', encoding: 'original', wording: 'nginx' },
  { path: '/api/verify', encoding: 'forwarded', wording: 'traefik' },
];

export type Who = 'nobody' | 'alice' | 'carol' | 'garbage';
export type Client = 'navigation' | 'fetch' | 'xhr' | 'json';

export interface Scenario {
  name: string;
  who: Who;
  method: string;
  uri: string;
  client: Client;
  /** allow-named: 2xx with the user's headers; allow-anonymous: 2xx with none. */
  expect: 'allow-named' | 'allow-anonymous' | 'login' | 'deny';
}

export const SCENARIOS: readonly Scenario[] = [
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

export const CLIENT_HEADERS: Record<Client, [string, string][]> = {
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

/**
 * The headers a proxy of this kind sends to describe the original request. No `Host` but
 * oauth2-proxy's: the client that carries the check adds its own (node's HTTP client does).
 */
export function describeTarget(
  encoding: Encoding,
  method: string,
  uri: string,
): [string, string][] {
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

/**
 * ingress-nginx's form, which `/api/verify` also reads: `X-Original-URI` with the `Host` nginx
 * passes (and the method, when given).
 */
export function ingressNginxTarget(uri: string, method?: string): [string, string][] {
  return [
    ['X-Original-URI', uri],
    ...(method === undefined ? [] : ([['X-Original-Method', method]] as [string, string][])),
    ['X-Forwarded-Proto', 'https'],
    ['Host', 'app.example.com'],
  ];
}

export const IDENTITY_HEADERS = [
  'remote-user',
  'remote-email',
  'remote-name',
  'remote-groups',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-groups',
  'x-auth-request-preferred-username',
];

/** Where "log in" sends a person who asked for `APP<uri>`. */
export function loginUrlFor(uri: string): string {
  return `${PUBLIC_URL}/auth/login?rd=${encodeURIComponent(`${APP}${uri}`)}`;
}

/** The app both transports run the scenario table against. */
export const TABLE_CONFIG = {
  server: { public_url: PUBLIC_URL },
  access: {
    default_policy: 'authenticated',
    rules: [
      { host: 'app.example.com', path: '/public/**', policy: 'bypass' },
      { path: '/admin/**', groups: ['admins'] },
      { path: '/blocked/**', policy: 'deny' },
    ],
  },
};

/** The people of the table: session cookies by who, and what their user headers carry. */
export interface People {
  readonly cookies: Map<Who, string>;
  readonly ids: Map<Who, string>;
}

export function noPeople(): People {
  return { cookies: new Map(), ids: new Map() };
}

/** What either transport offers to set the people up: the app's users, store and sign-in. */
export interface PeopleWorld {
  users: Pick<UserService, 'findOrCreate'>;
  store: Pick<UserDirectory, 'updateUser' | 'getUserByEmail'>;
  login(email: string): Promise<string>;
}

/** Carol is in admins and staff; alice and carol are signed in; garbage holds a forged token. */
export async function seedPeople(people: People, world: PeopleWorld): Promise<void> {
  const carol = await world.users.findOrCreate('carol@example.com');
  await world.store.updateUser({ ...carol, name: 'Carol Q', groups: ['admins', 'staff'] });
  for (const who of ['alice', 'carol'] as const) {
    people.cookies.set(who, await world.login(`${who}@example.com`));
    // What the user headers carry: the username (headers.user_value's default).
    people.ids.set(who, (await world.store.getUserByEmail(`${who}@example.com`))?.username ?? '');
  }
  people.cookies.set('garbage', 'eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0.');
}

/** `lines` with the session cookie of `who`, when they have one. */
export function withSession(
  lines: [string, string][],
  who: Who,
  people: People,
): [string, string][] {
  const cookie = people.cookies.get(who);
  return cookie ? [...lines, ['Cookie', `portcullis_session=${cookie}`]] : lines;
}

/** What a check decided: let in, ask for a login, refuse a person, a bad request, a failure. */
export type Decision = 'allow' | 'login' | 'deny' | 'bad_request' | 'error';

/** One check's answer as a transport sees it. */
export interface Seen {
  /** Null when the answer is none of these (a socket got a status no check answers with). */
  decision: Decision | null;
  /**
   * The identity headers, lower-case name → value, in the order written. Over a socket those
   * of the reply that IDENTITY_HEADERS names; in-process the whole prepared list but its
   * Content-Length.
   */
  identity: ReadonlyMap<string, string>;
  /**
   * The Content-Length the headers are written with: over a socket the reply's; in-process that
   * of the prepared list of an allow with an identity, which must end with it (undefined else).
   */
  contentLength: string | undefined;
  /**
   * Where the answer sends a person to sign in: over a socket its Location or JSON
   * `login_url`; in-process the pipeline's login URL of the target. Null when it names none.
   */
  login: string | null;
  /** Why the check said deny or login: in-process only (null over a socket). */
  reason: string | null;
  /** The reply as sent: over a socket only (null in-process), for the wording checks. */
  reply: Reply | null;
}

/** The decision a proxy reads from a check's status. */
function decisionOf(status: number): Decision | null {
  if (status >= 200 && status < 300) return 'allow';
  if (status === 401 || status === 302 || status === 303) return 'login';
  if (status === 403) return 'deny';
  if (status === 400) return 'bad_request';
  return status >= 500 && status < 600 ? 'error' : null;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A reply read off a socket, as the expectations see it. */
export function seenInReply(reply: Reply): Seen {
  const identity = new Map<string, string>();
  for (const [name, value] of Object.entries(reply.headers)) {
    const one = single(value);
    if (IDENTITY_HEADERS.includes(name) && one !== undefined) identity.set(name, one);
  }
  let login = single(reply.headers.location) ?? null;
  const json = /^application\/json/.test(single(reply.headers['content-type']) ?? '');
  if (login === null && json && reply.body !== '') {
    const body = JSON.parse(reply.body) as { login_url?: unknown };
    if (typeof body.login_url === 'string') login = body.login_url;
  }
  return {
    decision: decisionOf(reply.status),
    identity,
    contentLength: single(reply.headers['content-length']),
    login,
    reason: null,
    reply,
  };
}

/**
 * The answer to one scenario on one dialect: the decision, who it names and where a login
 * goes, everywhere; the status, Content-Type and body in the dialect's wording where the reply
 * is seen (a socket).
 */
export function expectScenario(
  dialect: Dialect,
  scenario: Scenario,
  seen: Seen,
  people: People,
): void {
  const reply = seen.reply;
  const named = [...seen.identity.keys()];
  if (scenario.expect === 'allow-named' || scenario.expect === 'allow-anonymous') {
    expect(seen.decision).toBe('allow');
    if (reply) {
      expect(reply.status).toBe(dialect.wording === 'oauth2' ? 202 : 200);
      expect(seen.contentLength).toBe('0');
    }
    if (scenario.expect === 'allow-anonymous') {
      expect(named).toEqual([]);
      return;
    }
    // The header list ends as CheckEndpoint hands it to writeHead.
    expect(seen.contentLength).toBe('0');
    const email = `${scenario.who}@example.com`;
    const groups = scenario.who === 'carol' ? 'admins,staff' : '';
    const id = people.ids.get(scenario.who);
    if (dialect.wording === 'oauth2') {
      expect(seen.identity.get('x-auth-request-user')).toBe(id);
      expect(seen.identity.get('x-auth-request-email')).toBe(email);
      expect(seen.identity.get('x-auth-request-groups')).toBe(groups);
      expect(seen.identity.get('x-auth-request-preferred-username')).toBe(scenario.who);
    } else {
      expect(seen.identity.get('remote-user')).toBe(id);
      expect(seen.identity.get('remote-email')).toBe(email);
      expect(seen.identity.get('remote-name')).toBe(scenario.who === 'carol' ? 'Carol Q' : 'alice');
      expect(seen.identity.get('remote-groups')).toBe(groups);
    }
    return;
  }
  // Anything but "allow" must never be 2xx and never name anyone.
  expect(named).toEqual([]);
  expect(seen.decision).toBe(scenario.expect);
  if (scenario.expect === 'deny') {
    if (!reply) return;
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
  // The login URL every wording carries sends the person back to what they asked for.
  const login = loginUrlFor(scenario.uri);
  expect(seen.login).toBe(login);
  if (!reply) return;
  if (dialect.wording === 'nginx' || dialect.wording === 'oauth2') {
    // nginx turns a 302 from auth_request into a 500: 401 + Location, for every client.
    expect(reply.status).toBe(401);
    expect(reply.headers.location).toBe(login);
    expect(reply.headers['content-length']).toBe('0');
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

/** Sends one check: `GET path` with these header lines, as the transport carries it. */
export type Check = (path: string, lines: [string, string][]) => Promise<Seen>;

/**
 * The scenario table on every dialect, one `describe` a dialect. The lines `check` gets are
 * the proxy's (no Host but oauth2-proxy's), the client's and the session cookie.
 */
export function scenarioTable(people: People, check: Check): void {
  for (const dialect of DIALECTS) {
    describe(`${dialect.path} (${dialect.encoding} headers)`, () => {
      for (const scenario of SCENARIOS) {
        it(scenario.name, async () => {
          const lines = [
            ...describeTarget(dialect.encoding, scenario.method, scenario.uri),
            ...CLIENT_HEADERS[scenario.client],
          ];
          const seen = await check(dialect.path, withSession(lines, scenario.who, people));
          expectScenario(dialect, scenario, seen, people);
        });
      }
    });
  }
}

/**
 * `/api/verify` given ingress-nginx's X-Original-URI + Host decides by the path it names.
 * `seesWording`: the transport sees the reply (a socket), and the login test's name says so.
 */
export function verifyByUriTable(people: People, check: Check, seesWording: boolean): void {
  describe('/api/verify reads X-Original-URI + Host as ingress-nginx sends them', () => {
    const ask = (uri: string, who: Who, method?: string) =>
      check('/api/verify', withSession(ingressNginxTarget(uri, method), who, people));

    it('allows by the path it names', async () => {
      const seen = await ask('/notes?id=1', 'alice', 'GET');
      expect(seen.decision).toBe('allow');
      if (seen.reply) expect(seen.reply.status).toBe(200);
      expect(seen.identity.get('remote-email')).toBe('alice@example.com');
    });

    it('denies by the path it names', async () => {
      const seen = await ask('/blocked/x', 'alice', 'GET');
      expect(seen.decision).toBe('deny');
      if (seen.reply) expect(seen.reply.status).toBe(403);
    });

    const wording = seesWording ? ' (nginx wording)' : '';
    it(`asks for a login with the URL it names${wording}`, async () => {
      // With X-Original-Method and without: nginx need not name the method.
      for (const method of ['GET', undefined]) {
        const seen = await ask('/notes', 'nobody', method);
        expect(seen.decision, `method ${method}`).toBe('login');
        expect(seen.login, `method ${method}`).toBe(loginUrlFor('/notes'));
        if (!seen.reply) continue;
        // nginx's wording: 401 + Location, back to the URL it names.
        expect(seen.reply.status).toBe(401);
        expect(seen.reply.headers.location).toBe(loginUrlFor('/notes'));
      }
    });
  });
}

/** oauth2-proxy's `/oauth2/auth?allowed_*=…`: who passes the parameters on top of the rules. */
interface AllowedCase {
  query: string;
  who: Who;
  expect: 'allow' | 'deny' | 'login';
}

/** The status `/oauth2/auth` answers each decision with. */
const OAUTH2_STATUS = { allow: 202, deny: 403, login: 401 } as const;

const ALLOWED_CASES: readonly AllowedCase[] = [
  { query: 'allowed_groups=admins', who: 'carol', expect: 'allow' },
  { query: 'allowed_groups=admins', who: 'alice', expect: 'deny' },
  { query: 'allowed_groups=ops,staff', who: 'carol', expect: 'allow' },
  { query: 'allowed_emails=alice@example.com', who: 'alice', expect: 'allow' },
  { query: 'allowed_emails=alice@example.com', who: 'carol', expect: 'deny' },
  { query: 'allowed_emails=ALICE@example.com,bob@example.com', who: 'alice', expect: 'allow' },
  { query: 'allowed_email_domains=example.com', who: 'alice', expect: 'allow' },
  { query: 'allowed_email_domains=example.org', who: 'alice', expect: 'deny' },
  { query: 'allowed_email_domains=ample.com', who: 'alice', expect: 'deny' },
  {
    query: 'allowed_groups=admins&allowed_email_domains=example.org',
    who: 'carol',
    expect: 'deny',
  },
  { query: 'allowed_groups=admins', who: 'nobody', expect: 'login' },
  { query: 'allowed_emails=alice@example.com', who: 'garbage', expect: 'login' },
];

/**
 * oauth2-proxy's `allowed_*` parameters on `/oauth2/auth`, for `GET /notes`. `seesWording`:
 * the transport sees the reply (a socket), and the tests are named by status, else by decision.
 */
export function allowedParametersTable(people: People, check: Check, seesWording: boolean): void {
  describe('/oauth2/auth allowed_* parameters', () => {
    for (const { query, who, expect: expected } of ALLOWED_CASES) {
      const answer = seesWording ? OAUTH2_STATUS[expected] : expected;
      it(`?${query} as ${who} → ${answer}`, async () => {
        const lines = withSession(describeTarget('oauth2', 'GET', '/notes'), who, people);
        const seen = await check(`/oauth2/auth?${query}`, lines);
        expect(seen.decision).toBe(expected);
        if (seen.reply) expect(seen.reply.status).toBe(OAUTH2_STATUS[expected]);
        expect(seen.identity.has('x-auth-request-email')).toBe(expected === 'allow');
        if (expected === 'deny' && seen.reason !== null) {
          // The denial names the parameters, so the admin page can explain it.
          expect(seen.reason).toContain('allowed_*');
        }
      });
    }
  });
}
