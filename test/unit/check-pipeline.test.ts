import type { IncomingHttpHeaders } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { derive } from '../../src/config/derive.js';
import type { Config } from '../../src/config/load.js';
import { NO_ENV, parse } from '../../src/config/parse.js';
import { ManualClock } from '../../src/core/clock.js';
import { groupsFilterFrom } from '../../src/core/identity-headers.js';
import { SessionTokens } from '../../src/core/session-token.js';
import { type Target, targetUrl } from '../../src/core/target.js';
import {
  allowedAnswer,
  checkNames,
  DIALECTS,
  type DialectName,
  type Family,
} from '../../src/http/check/endpoints.js';
import {
  type Answer,
  type CheckCaller,
  CheckPipeline,
  type CheckRequest,
  loginUrl,
} from '../../src/http/check/pipeline.js';
import { SessionCookie } from '../../src/http/session-cookie.js';
import { StoreUnavailableError } from '../../src/ports/store.js';
import { SessionService } from '../../src/services/sessions.js';
import { UserService } from '../../src/services/users.js';
import { corpus, proxyHeaders, setsHeader } from '../fixtures/target-confusion.js';

/**
 * The check pipeline and every dialect's target reader, in-process: a request made of plain
 * header lines in, the decision and the identity header list out, no socket and no server. The
 * same scenario table and target-confusion corpus run over real sockets in test/http/
 * (dialects.test.ts, target-confusion.test.ts), which also cover each dialect's wording (401 vs
 * 302, JSON vs page), HEAD bodies and the trusted-proxy gate; here the decisions are checked
 * fast and exhaustively.
 */

const SECRET = 'a'.repeat(64);

/** A forward-auth path as server.ts routes it: which dialect reads it, which family answers. */
const ENDPOINTS: Record<string, { dialect: DialectName; family: Family }> = {
  '/auth/nginx': { dialect: 'nginx', family: 'portcullis' },
  '/auth/traefik': { dialect: 'traefik', family: 'portcullis' },
  '/oauth2/auth': { dialect: 'oauth2', family: 'oauth2-proxy' },
  '/api/authz/auth-request': { dialect: 'nginx', family: 'authelia' },
  '/api/authz/forward-auth': { dialect: 'traefik', family: 'authelia' },
  '/api/verify': { dialect: 'verify', family: 'authelia' },
};

/**
 * Node's merge of repeated header lines into `req.headers` (documented under
 * `message.headers`): these keep their first value, `cookie` joins with "; ", `set-cookie`
 * is a list, every other header joins with ", ".
 */
const FIRST_ONLY = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** The request a check endpoint sees for `GET url` with these header lines, in this order. */
function checkRequest(url: string, lines: readonly (readonly [string, string])[]): CheckRequest {
  const headers: IncomingHttpHeaders = {};
  const rawHeaders: string[] = [];
  for (const [name, value] of lines) {
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    const seen = headers[key];
    if (key === 'set-cookie') headers[key] = [...(headers[key] ?? []), value];
    else if (seen === undefined) headers[key] = value;
    else if (!FIRST_ONLY.has(key))
      headers[key] = `${seen}${key === 'cookie' ? '; ' : ', '}${value}`;
  }
  return { headers, rawHeaders, url };
}

type Outcome =
  | { kind: 'bad_request'; reason: string }
  | { kind: 'answer'; answer: Answer; prepared: readonly string[] | null; target: Target };

type Done = (outcome: Outcome) => void;

/** What one process builds for the check endpoints (see app.ts), over a memory store. */
class World {
  readonly store: MemoryStore;
  readonly users: UserService;
  readonly sessions: SessionService;
  readonly pipeline: CheckPipeline;
  readonly baseUrl: string;
  /** The session cookie, as app.ts builds it. */
  readonly cookie: SessionCookie;
  private readonly callers = new Map<string, CheckCaller<Done, null, CheckRequest>>();

  private constructor(
    readonly config: Config,
    tokens: SessionTokens,
  ) {
    const clock = new ManualClock();
    this.store = new MemoryStore(clock);
    this.users = new UserService(this.store, clock, config.raw.admin);
    this.sessions = new SessionService(this.store, tokens, clock, {
      lifetimeMs: config.raw.session.lifetime,
      idleTimeoutMs: config.raw.session.idle_timeout,
      cacheTtlMs: 1000,
      cacheMaxEntries: 50_000,
    });
    const anon = config.raw.anonymous_user;
    this.pipeline = new CheckPipeline({
      policy: {
        defaultPolicy: config.raw.access.default_policy,
        rules: config.rules,
        anonymousMode: config.raw.anonymous_mode,
      },
      anonymousUser: {
        id: anon.id,
        username: anon.id,
        email: anon.email,
        name: anon.name,
        groups: [],
        anonymous: true,
      },
      sessions: this.sessions,
      logger: pino({ level: 'silent' }),
    });
    this.cookie = new SessionCookie({
      name: config.raw.session.cookie_name,
      secure: config.secureCookies,
      domain: config.raw.session.cookie_domain ?? null,
      lifetimeMs: config.raw.session.lifetime,
    });
    const publicPath = config.publicUrl.pathname.replace(/\/+$/, '');
    this.baseUrl = `${config.publicOrigin}${publicPath}${config.prefix}`;
    const headerNames = {
      ...config.raw.headers,
      groupsFilter: groupsFilterFrom(config.raw.headers.groups_filter, config.raw.access.rules),
    };
    for (const [path, { dialect, family }] of Object.entries(ENDPOINTS)) {
      const reader = DIALECTS[dialect];
      this.callers.set(path, {
        family: allowedAnswer(checkNames(headerNames, family)),
        during: 'auth check',
        constraint: (req) => reader.constraint(req),
        answer: (_req, done, { answer, prepared, target }) =>
          done({ kind: 'answer', answer, prepared, target }),
      });
    }
  }

  static async create(settings: Record<string, unknown>): Promise<World> {
    const parsed = parse({ ...settings, auth: { secret_key: SECRET }, log: { level: 'silent' } });
    if (!('config' in parsed)) throw new Error(JSON.stringify(parsed.issues));
    const config = derive(parsed.config, { path: '', env: NO_ENV });
    return new World(config, await SessionTokens.create(config.secretKeys ?? []));
  }

  /** A session cookie for `email` (the user is made if new). */
  async login(email: string): Promise<string> {
    const user = await this.users.findOrCreate(email);
    const { cookie } = await this.sessions.create(user, {
      ip: '203.0.113.9',
      userAgent: 'test',
      method: 'magic_link',
    });
    return cookie;
  }

  /**
   * One check on `path` (query included), as CheckEndpoint.handle runs it for a trusted peer:
   * the dialect reads the target, the pipeline answers.
   */
  check(path: string, lines: readonly (readonly [string, string])[]): Promise<Outcome> {
    const q = path.indexOf('?');
    const endpoint = ENDPOINTS[q === -1 ? path : path.slice(0, q)];
    const caller = this.callers.get(q === -1 ? path : path.slice(0, q));
    if (!endpoint || !caller) throw new Error(`no check endpoint ${path}`);
    const req = checkRequest(path, lines);
    const parsed = DIALECTS[endpoint.dialect].readTarget(req);
    if (!parsed?.ok) {
      const reason = parsed ? parsed.reason : 'no forwarded headers';
      return Promise.resolve({ kind: 'bad_request', reason });
    }
    const cookie = this.cookie.readHeader(
      typeof req.headers.cookie === 'string' ? req.headers.cookie : undefined,
    );
    return new Promise((done) => this.pipeline.run(req, done, parsed.target, cookie, caller, null));
  }
}

/** The decision a proxy acts on: 400, or the pipeline's allow/login/deny (error: a failure). */
function verdict(outcome: Outcome): 'bad_request' | 'allow' | 'login' | 'deny' | 'error' {
  return outcome.kind === 'bad_request' ? 'bad_request' : outcome.answer.kind;
}

/** The identity header names (lower-case) and values of an allowed answer. */
function identityOf(outcome: Outcome): Map<string, string> {
  const out = new Map<string, string>();
  if (outcome.kind !== 'answer' || outcome.prepared === null) return out;
  const list = outcome.prepared;
  for (let i = 0; i < list.length; i += 2) {
    const name = (list[i] as string).toLowerCase();
    if (name !== 'content-length') out.set(name, list[i + 1] as string);
  }
  return out;
}

describe('check pipeline in-process: the dialect scenario table', () => {
  const PUBLIC_URL = 'https://auth.example.com';
  const APP = 'https://app.example.com';

  type Encoding = 'original' | 'forwarded' | 'oauth2';
  const DIALECT_ROWS: { path: string; encoding: Encoding }[] = [
    { path: '/auth/nginx', encoding: 'original' },
    { path: '/auth/traefik', encoding: 'forwarded' },
    { path: '/oauth2/auth', encoding: 'oauth2' },
    { path: '/api/authz/auth-request', encoding: 'original' },
    { path: '/api/authz/forward-auth', encoding: 'forwarded' },
    { path: '/api/verify', encoding: 'original' },
    { path: '/api/verify', encoding: 'forwarded' },
  ];

  type Who = 'nobody' | 'alice' | 'carol' | 'garbage';
  type Client = 'navigation' | 'fetch' | 'xhr' | 'json';
  type Expect = 'allow-named' | 'allow-anonymous' | 'login' | 'deny';
  /** Who × method × uri × client → expect, as in test/http/dialects.test.ts. */
  const SCENARIOS: [string, Who, string, string, Client, Expect][] = [
    ['signed-in user', 'alice', 'GET', '/notes?id=1', 'navigation', 'allow-named'],
    ['signed-in API call', 'alice', 'POST', '/api/items', 'fetch', 'allow-named'],
    ['no session, GET navigation', 'nobody', 'GET', '/notes?id=1&x=%2F', 'navigation', 'login'],
    ['no session, POST navigation', 'nobody', 'POST', '/notes', 'navigation', 'login'],
    ['no session, HEAD navigation', 'nobody', 'HEAD', '/notes', 'navigation', 'login'],
    ['no session, fetch()', 'nobody', 'GET', '/api/items', 'fetch', 'login'],
    ['no session, XHR', 'nobody', 'DELETE', '/api/items/3', 'xhr', 'login'],
    ['no session, JSON client', 'nobody', 'GET', '/api/items', 'json', 'login'],
    ['garbage cookie', 'garbage', 'GET', '/notes', 'navigation', 'login'],
    ['bypass, no session', 'nobody', 'GET', '/public/logo.png', 'navigation', 'allow-anonymous'],
    ['bypass, signed in', 'alice', 'GET', '/public/logo.png', 'navigation', 'allow-named'],
    ['bypass through dot segments', 'nobody', 'GET', '/public/../admin/x', 'navigation', 'login'],
    [
      'bypass through encoded dots',
      'nobody',
      'GET',
      '/public/%2e%2e/admin/x',
      'navigation',
      'login',
    ],
    [
      'bypass through an encoded slash',
      'nobody',
      'GET',
      '/public%2F..%2Fadmin/x',
      'navigation',
      'login',
    ],
    ['bypass through ; parameters', 'nobody', 'GET', '/public;x=1/../admin', 'navigation', 'login'],
    [
      'bypass through a query that looks like a path',
      'nobody',
      'GET',
      '/admin/x?/public/',
      'navigation',
      'login',
    ],
    ['group rule, member', 'carol', 'GET', '/admin/users', 'navigation', 'allow-named'],
    ['group rule, not a member', 'alice', 'GET', '/admin/users', 'navigation', 'deny'],
    ['group rule, not a member, case trick', 'alice', 'GET', '/ADMIN/users', 'navigation', 'deny'],
    ['deny rule, signed in', 'alice', 'GET', '/blocked/x', 'navigation', 'deny'],
    ['deny rule, signed in, API client', 'alice', 'POST', '/blocked/x', 'json', 'deny'],
    ['deny rule, no session', 'nobody', 'GET', '/blocked/x', 'fetch', 'login'],
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

  /** The header lines a proxy of this kind sends; node's client adds `Host` unless it is set. */
  function describeTarget(encoding: Encoding, method: string, uri: string): [string, string][] {
    const url = new URL(APP);
    if (encoding === 'original') {
      return [
        ['Host', 'portcullis'],
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
      ['Host', 'portcullis'],
      ['X-Forwarded-Method', method],
      ['X-Forwarded-Proto', url.protocol.slice(0, -1)],
      ['X-Forwarded-Host', url.host],
      ['X-Forwarded-Uri', uri],
      ['X-Forwarded-For', '203.0.113.9'],
    ];
  }

  let world: World;
  const cookies = new Map<Who, string>();
  const ids = new Map<Who, string>();

  beforeAll(async () => {
    world = await World.create({
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
    const carol = await world.users.findOrCreate('carol@example.com');
    await world.store.updateUser({ ...carol, name: 'Carol Q', groups: ['admins', 'staff'] });
    for (const who of ['alice', 'carol'] as const) {
      cookies.set(who, await world.login(`${who}@example.com`));
      // What the user headers carry: the username (headers.user_value's default).
      ids.set(who, (await world.store.getUserByEmail(`${who}@example.com`))?.username ?? '');
    }
    cookies.set('garbage', 'eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0.');
  });

  afterAll(async () => {
    await world.store.close();
  });

  function withCookie(lines: [string, string][], who: Who): [string, string][] {
    const cookie = cookies.get(who);
    return cookie ? [...lines, ['Cookie', `portcullis_session=${cookie}`]] : lines;
  }

  for (const row of DIALECT_ROWS) {
    describe(`${row.path} (${row.encoding} headers)`, () => {
      const oauth2 = row.path === '/oauth2/auth';
      for (const [name, who, method, uri, client, expected] of SCENARIOS) {
        it(name, async () => {
          const outcome = await world.check(
            row.path,
            withCookie(
              [...describeTarget(row.encoding, method, uri), ...CLIENT_HEADERS[client]],
              who,
            ),
          );
          const identity = identityOf(outcome);
          const named = IDENTITY_HEADERS.filter((header) => identity.has(header));
          if (expected === 'allow-named' || expected === 'allow-anonymous') {
            expect(verdict(outcome)).toBe('allow');
            if (expected === 'allow-anonymous') {
              expect(named).toEqual([]);
              return;
            }
            // The prepared list ends as CheckEndpoint hands it to writeHead.
            if (outcome.kind === 'answer')
              expect(outcome.prepared?.slice(-2)).toEqual(['Content-Length', '0']);
            const email = `${who}@example.com`;
            const groups = who === 'carol' ? 'admins,staff' : '';
            if (oauth2) {
              expect(identity.get('x-auth-request-user')).toBe(ids.get(who));
              expect(identity.get('x-auth-request-email')).toBe(email);
              expect(identity.get('x-auth-request-groups')).toBe(groups);
              expect(identity.get('x-auth-request-preferred-username')).toBe(who);
            } else {
              expect(identity.get('remote-user')).toBe(ids.get(who));
              expect(identity.get('remote-email')).toBe(email);
              expect(identity.get('remote-name')).toBe(who === 'carol' ? 'Carol Q' : 'alice');
              expect(identity.get('remote-groups')).toBe(groups);
            }
            return;
          }
          // Anything but "allow" names no one.
          expect(named).toEqual([]);
          expect(verdict(outcome)).toBe(expected);
          if (expected === 'login' && outcome.kind === 'answer') {
            // The login URL every wording carries sends the person back to what they asked for.
            expect(loginUrl(world.baseUrl, targetUrl(outcome.target))).toBe(
              `${PUBLIC_URL}/auth/login?rd=${encodeURIComponent(`${APP}${uri}`)}`,
            );
          }
        });
      }
    });
  }

  describe('/api/verify reads X-Original-URI + Host as ingress-nginx sends them', () => {
    const ask = (uri: string, who: Who) =>
      world.check(
        '/api/verify',
        withCookie(
          [
            ['X-Original-URI', uri],
            ['X-Original-Method', 'GET'],
            ['X-Forwarded-Proto', 'https'],
            ['Host', 'app.example.com'],
          ],
          who,
        ),
      );

    it('allows by the path it names', async () => {
      const outcome = await ask('/notes?id=1', 'alice');
      expect(verdict(outcome)).toBe('allow');
      expect(identityOf(outcome).get('remote-email')).toBe('alice@example.com');
    });

    it('denies by the path it names', async () => {
      expect(verdict(await ask('/blocked/x', 'alice'))).toBe('deny');
    });

    it('asks for a login with the URL it names', async () => {
      const outcome = await ask('/notes', 'nobody');
      expect(verdict(outcome)).toBe('login');
      if (outcome.kind === 'answer') expect(targetUrl(outcome.target)).toBe(`${APP}/notes`);
    });
  });

  describe('/oauth2/auth allowed_* parameters', () => {
    const cases: [string, Who, 'allow' | 'deny' | 'login'][] = [
      ['allowed_groups=admins', 'carol', 'allow'],
      ['allowed_groups=admins', 'alice', 'deny'],
      ['allowed_groups=ops,staff', 'carol', 'allow'],
      ['allowed_emails=alice@example.com', 'alice', 'allow'],
      ['allowed_emails=alice@example.com', 'carol', 'deny'],
      ['allowed_emails=ALICE@example.com,bob@example.com', 'alice', 'allow'],
      ['allowed_email_domains=example.com', 'alice', 'allow'],
      ['allowed_email_domains=example.org', 'alice', 'deny'],
      ['allowed_email_domains=ample.com', 'alice', 'deny'],
      ['allowed_groups=admins&allowed_email_domains=example.org', 'carol', 'deny'],
      ['allowed_groups=admins', 'nobody', 'login'],
      ['allowed_emails=alice@example.com', 'garbage', 'login'],
    ];
    for (const [query, who, expected] of cases) {
      it(`?${query} as ${who} → ${expected}`, async () => {
        const outcome = await world.check(
          `/oauth2/auth?${query}`,
          withCookie(describeTarget('oauth2', 'GET', '/notes'), who),
        );
        expect(verdict(outcome)).toBe(expected);
        expect(identityOf(outcome).has('x-auth-request-email')).toBe(expected === 'allow');
        if (expected === 'deny' && outcome.kind === 'answer' && outcome.answer.kind === 'deny') {
          // The denial names the parameters, so the admin page can explain it.
          expect(outcome.answer.reason).toContain('allowed_*');
        }
      });
    }
  });

  describe('a failing session store is an error answer, never an allow', () => {
    it('answers store_unavailable with no identity headers', async () => {
      const failing = await World.create({ server: { public_url: PUBLIC_URL } });
      const cookie = await failing.login('dave@example.com');
      failing.store.getSession = () => Promise.reject(new StoreUnavailableError('down'));
      const outcome = await failing.check('/auth/nginx', [
        ...describeTarget('original', 'GET', '/notes'),
        ['Cookie', `portcullis_session=${cookie}`],
      ]);
      expect(verdict(outcome)).toBe('error');
      if (outcome.kind === 'answer' && outcome.answer.kind === 'error') {
        expect(outcome.answer.error.code).toBe('store_unavailable');
      }
      expect(identityOf(outcome).size).toBe(0);
      await failing.store.close();
    });
  });
});

describe("check pipeline in-process: compatibility paths keep their tools' header names", () => {
  let world: World;
  let cookie: string;

  beforeAll(async () => {
    world = await World.create({
      server: { public_url: 'https://auth.example.com' },
      headers: { user: ['X-User'], email: ['X-Email'], name: [], groups: ['remote-groups'] },
    });
    cookie = await world.login('alice@example.com');
  });

  afterAll(async () => {
    await world.store.close();
  });

  const ask = (path: string) =>
    world.check(path, [
      ...(path === '/oauth2/auth'
        ? ([
            ['Host', 'app.example.com'],
            ['X-Forwarded-Proto', 'https'],
            ['X-Forwarded-Uri', '/notes'],
            ['X-Forwarded-Method', 'GET'],
          ] as [string, string][])
        : ([
            ['X-Original-URL', 'https://app.example.com/notes'],
            ['X-Original-Method', 'GET'],
          ] as [string, string][])),
      ['Cookie', `portcullis_session=${cookie}`],
    ]);

  it('/auth/nginx sends exactly the configured names, in order', async () => {
    const identity = identityOf(await ask('/auth/nginx'));
    expect([...identity.keys()]).toEqual(['x-user', 'x-email', 'remote-groups']);
    expect(identity.get('x-email')).toBe('alice@example.com');
    expect(identity.get('remote-groups')).toBe('');
  });

  it("/oauth2/auth adds oauth2-proxy's X-Auth-Request-* names", async () => {
    const identity = identityOf(await ask('/oauth2/auth'));
    expect(identity.get('x-user')).toBe(identity.get('x-auth-request-user'));
    expect(identity.get('x-auth-request-email')).toBe('alice@example.com');
    expect(identity.get('x-auth-request-groups')).toBe('');
    expect(identity.get('x-auth-request-preferred-username')).toBe('alice');
  });

  for (const path of ['/api/authz/auth-request', '/api/verify']) {
    it(`${path} adds Authelia's Remote-* names (once each)`, async () => {
      const outcome = await ask(path);
      const names = (outcome.kind === 'answer' ? (outcome.prepared ?? []) : []).filter(
        (_value, i) => i % 2 === 0,
      );
      expect(names.filter((name) => name.toLowerCase() === 'remote-groups')).toHaveLength(1);
      const identity = identityOf(outcome);
      expect(identity.get('x-email')).toBe('alice@example.com');
      expect(identity.get('remote-email')).toBe('alice@example.com');
      expect(identity.get('remote-user')).toBe(identity.get('x-user'));
      expect(identity.get('remote-name')).toBe('alice');
      expect(identity.get('remote-groups')).toBe('');
    });
  }
});

describe('check pipeline in-process: the target-confusion corpus', () => {
  let world: World;

  beforeAll(async () => {
    world = await World.create({
      server: { public_url: 'https://auth.example.test' },
      access: {
        default_policy: 'authenticated',
        rules: [
          { host: 'public.example.test', policy: 'bypass' },
          { host: 'secret.example.test', path: '/api/health', methods: ['GET'], policy: 'bypass' },
          { host: 'secret.example.test', path: '/admin/**', policy: 'deny' },
        ],
      },
    });
  });

  afterAll(async () => {
    await world.store.close();
  });

  /** As the socket test sends it: its own lines first, then the proxy's and the client's. */
  const check = (path: string, lines: [string, string][]) =>
    world.check(path, [['Connection', 'close'], ['Accept', 'text/html'], ...lines]);

  const REFUSED = ['bad_request', 'login', 'deny'];

  describe('controls', () => {
    for (const proxy of corpus.proxies) {
      it(`${proxy.name}: the bypass host and the GET-only bypass pass undisturbed`, async () => {
        for (const url of [
          'https://public.example.test/',
          'https://secret.example.test/api/health',
        ]) {
          expect(verdict(await check(proxy.path, proxyHeaders(proxy, 'GET', url))), url).toBe(
            'allow',
          );
        }
        const protectedOne = await check(
          proxy.path,
          proxyHeaders(proxy, 'GET', 'https://secret.example.test/'),
        );
        expect(verdict(protectedOne)).toBe('login');
      });
    }
  });

  for (const proxy of corpus.proxies) {
    it(`${proxy.name}: client-added headers never open a protected request`, async () => {
      for (const request of corpus.requests) {
        const base = proxyHeaders(proxy, request.method, request.url);
        for (const injection of corpus.injections) {
          const extra = Object.entries(injection).filter(([name]) => !setsHeader(proxy, name));
          for (const lines of [
            [...extra, ...base],
            [...base, ...extra],
          ]) {
            const outcome = await check(proxy.path, lines);
            expect(
              REFUSED,
              `${request.method} ${request.url} + ${JSON.stringify(extra)}`,
            ).toContain(verdict(outcome));
            expect(identityOf(outcome).size).toBe(0);
          }
        }
      }
    });

    it(`${proxy.name}: a repeated header is never read as the allowed one`, async () => {
      for (const request of corpus.requests) {
        const base = proxyHeaders(proxy, request.method, request.url);
        for (const name of corpus.duplicates) {
          const copy: [string, string] = [name, corpus.duplicateValues[name] as string];
          for (const lines of [
            [copy, ...base],
            [...base, copy],
          ]) {
            const outcome = await check(proxy.path, lines);
            expect(REFUSED, `${request.method} ${request.url} + second ${name}`).toContain(
              verdict(outcome),
            );
          }
        }
      }
    });

    it(`${proxy.name}: without a method header, a GET-only bypass does not apply`, async () => {
      const base = proxyHeaders(proxy, 'POST', 'https://secret.example.test/api/health').filter(
        ([name]) => !/method/i.test(name),
      );
      expect(REFUSED).toContain(verdict(await check(proxy.path, base)));
    });
  }
});
