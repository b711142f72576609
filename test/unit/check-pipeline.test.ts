import type { IncomingHttpHeaders } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { accessPolicyOf, derive } from '../../src/config/derive.js';
import type { Config } from '../../src/config/load.js';
import { NO_ENV, parse } from '../../src/config/parse.js';
import { ManualClock } from '../../src/core/clock.js';
import { anonymousIdentity } from '../../src/core/identity.js';
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
import {
  allowedParametersTable,
  describeTarget,
  noPeople,
  PUBLIC_URL,
  type Seen,
  scenarioTable,
  seedPeople,
  TABLE_CONFIG,
  verifyByUriTable,
} from '../helpers/dialect-cases.js';
import {
  TARGET_CONFUSION_CONFIG,
  targetConfusionTable,
} from '../helpers/target-confusion-cases.js';

/**
 * The check pipeline and every dialect's target reader, in-process: a request made of plain
 * header lines in, the decision and the identity header list out, no socket and no server. The
 * scenario table (test/helpers/dialect-cases.ts) and the target-confusion corpus
 * (test/helpers/target-confusion-cases.ts) are shared with the socket tests in test/http/
 * (dialects.test.ts, target-confusion.test.ts), which also see each dialect's wording (401 vs
 * 302, JSON vs page), HEAD bodies and the trusted-proxy gate; here the decisions, the prepared
 * header list and the reasons are checked fast and exhaustively.
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
      policy: accessPolicyOf(config),
      anonymousUser: anonymousIdentity(anon),
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

/** An outcome as the shared expectations read it: no reply; the prepared list and the reason. */
function seenIn(world: World, outcome: Outcome): Seen {
  const answer = outcome.kind === 'answer' ? outcome.answer : null;
  const prepared = outcome.kind === 'answer' ? outcome.prepared : null;
  const last = prepared === null ? -1 : prepared.length - 2;
  return {
    decision: verdict(outcome),
    identity: identityOf(outcome),
    // The prepared list ends with the Content-Length CheckEndpoint hands to writeHead.
    contentLength: prepared?.[last] === 'Content-Length' ? prepared[last + 1] : undefined,
    login:
      outcome.kind === 'answer' && answer?.kind === 'login'
        ? loginUrl(world.baseUrl, targetUrl(outcome.target))
        : null,
    reason: answer?.kind === 'deny' || answer?.kind === 'login' ? answer.reason : null,
    reply: null,
  };
}

/** The header lines as node's HTTP client sends them: it adds `Host` unless one is set. */
function asSent(lines: [string, string][]): [string, string][] {
  return lines.some(([name]) => name.toLowerCase() === 'host')
    ? lines
    : [['Host', 'portcullis'], ...lines];
}

describe('check pipeline in-process: the dialect scenario table', () => {
  let world: World;
  const people = noPeople();

  beforeAll(async () => {
    world = await World.create(TABLE_CONFIG);
    await seedPeople(people, world);
  });

  afterAll(async () => {
    await world.store.close();
  });

  const check = async (path: string, lines: [string, string][]) =>
    seenIn(world, await world.check(path, asSent(lines)));

  scenarioTable(people, check);

  verifyByUriTable(people, check, false);
  allowedParametersTable(people, check, false);

  describe('a failing session store is an error answer, never an allow', () => {
    it('answers store_unavailable with no identity headers', async () => {
      const failing = await World.create({ server: { public_url: PUBLIC_URL } });
      const cookie = await failing.login('dave@example.com');
      failing.store.getSession = () => Promise.reject(new StoreUnavailableError('down'));
      const outcome = await failing.check('/auth/nginx', [
        ...asSent(describeTarget('original', 'GET', '/notes')),
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
      server: { public_url: PUBLIC_URL },
      headers: { user: ['X-User'], email: ['X-Email'], name: [], groups: ['remote-groups'] },
    });
    cookie = await world.login('alice@example.com');
  });

  afterAll(async () => {
    await world.store.close();
  });

  const ask = (path: string) =>
    world.check(path, [
      ...describeTarget(path === '/oauth2/auth' ? 'oauth2' : 'original', 'GET', '/notes'),
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
    world = await World.create(TARGET_CONFUSION_CONFIG);
  });

  afterAll(async () => {
    await world.store.close();
  });

  // As the socket test writes it: `Connection: close` first, then the lines it is given.
  targetConfusionTable(async (path, lines) =>
    seenIn(world, await world.check(path, [['Connection', 'close'], ...lines])),
  );
});
