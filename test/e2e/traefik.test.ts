import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { identitySpellingFamilies } from '../fixtures/identity-spellings.js';
import { startTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { HTML, type Reply, send } from '../helpers/proxy-scenarios.js';

/**
 * Traefik cannot run here (no Docker, no network), so this file (1) checks that
 * examples/traefik names exactly the paths and headers portcullis serves, and (2) replays the
 * request Traefik v3's forwardAuth middleware builds (pkg/middlewares/auth/forward.go,
 * writeHeader) after its entry point has normalised the X-Forwarded-* headers
 * (pkg/middlewares/forwardedheaders), and asserts portcullis' answers.
 */

const COMPOSE_PATH = new URL('../../examples/traefik/docker-compose.yml', import.meta.url);
const CONFIG_PATH = new URL('../../examples/traefik/portcullis.yaml', import.meta.url);
const IDENTITY = ['Remote-User', 'Remote-Email', 'Remote-Name', 'Remote-Groups'];

interface Service {
  image?: string;
  command?: string | string[];
  environment?: Record<string, string>;
  volumes?: string[];
  labels?: string[];
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
}

interface Compose {
  services: Record<string, Service>;
}

function labels(service: Service | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const label of service?.labels ?? []) {
    const eq = label.indexOf('=');
    out.set(label.slice(0, eq), label.slice(eq + 1));
  }
  return out;
}

/** Traefik label keys are case-insensitive; look one up that way. */
function label(map: Map<string, string>, key: string): string | undefined {
  for (const [k, v] of map) if (k.toLowerCase() === key.toLowerCase()) return v;
  return undefined;
}

function hostRule(rule: string | undefined): string {
  const match = /^Host\(`([^`]+)`\)$/.exec(rule ?? '');
  if (!match) throw new Error(`expected a Host(\`…\`) rule, got ${rule}`);
  return match[1] as string;
}

const compose = parse(readFileSync(COMPOSE_PATH, 'utf8')) as Compose;
const configYaml = parse(readFileSync(CONFIG_PATH, 'utf8')) as Record<string, unknown>;

function forwardAuthMiddleware(): { name: string; settings: Map<string, string> } {
  const found = new Map<string, Map<string, string>>();
  for (const service of Object.values(compose.services)) {
    for (const [key, value] of labels(service)) {
      const match = /^traefik\.http\.middlewares\.([^.]+)\.forwardauth\.(.+)$/i.exec(key);
      if (!match) continue;
      const name = match[1] as string;
      const settings = found.get(name) ?? new Map<string, string>();
      settings.set((match[2] as string).toLowerCase(), value);
      found.set(name, settings);
    }
  }
  expect([...found.keys()]).toHaveLength(1);
  const [name, settings] = [...found.entries()][0] as [string, Map<string, string>];
  return { name, settings };
}

describe('examples/traefik', () => {
  const env = { PORTCULLIS_SECRET_KEY: 'b'.repeat(64) };

  it('runs Traefik v3, portcullis, Redis and Khoj in anonymous mode', () => {
    const { services } = compose;
    expect(services.traefik?.image).toMatch(/^traefik:v3(\.|$)/);
    expect(services.redis?.image).toMatch(/^redis:/);
    expect(services.khoj?.image).toMatch(/^ghcr\.io\/khoj-ai\/khoj(:|$)/);
    const command = [services.khoj?.command ?? []].flat().join(' ');
    expect(command).toContain('--anonymous-mode');
    // Khoj is reached only through Traefik: no published ports.
    expect((services.khoj as Record<string, unknown>).ports).toBeUndefined();
    expect((services.portcullis as Record<string, unknown>).ports).toBeUndefined();
  });

  it('pins a Traefik that can drop aliasing header names, and drops them on every entry point', () => {
    // aliasHeadersStrategy (GHSA-rf44-j88r-hh8c, `.` and every other aliasing character) came
    // in v3.7.12; underscoreHeadersStrategy (v3.7.6) covered `_` only.
    const image = compose.services.traefik?.image ?? '';
    const version = /^traefik:v(\d+)\.(\d+)\.(\d+)$/.exec(image);
    expect(version, `${image} is not an exact release`).not.toBeNull();
    const [major, minor, patch] = (version as RegExpExecArray).slice(1).map(Number) as [
      number,
      number,
      number,
    ];
    expect(major).toBe(3);
    expect(minor * 1000 + patch).toBeGreaterThanOrEqual(7 * 1000 + 12);
    expect(image).toBe('traefik:v3.7.13');
    const command = [compose.services.traefik?.command ?? []].flat();
    const entryPoints = command
      .map((flag) => /^--entryPoints\.([^.]+)\.address=/i.exec(flag)?.[1])
      .filter((name): name is string => name !== undefined);
    expect(entryPoints).toEqual(['web', 'websecure']);
    for (const entryPoint of entryPoints) {
      expect(command).toContain(`--entryPoints.${entryPoint}.http.aliasHeadersStrategy=delete`);
    }
  });

  it('removes every identity family the client sends before the check, on the protected router', () => {
    const cleared = new Map<string, Set<string>>();
    for (const [key, value] of labels(compose.services.portcullis)) {
      const match =
        /^traefik\.http\.middlewares\.([^.]+)\.headers\.customrequestheaders\.(.+)$/i.exec(key);
      if (!match) continue;
      expect(value, key).toBe('');
      const names = cleared.get(match[1] as string) ?? new Set<string>();
      names.add((match[2] as string).toLowerCase());
      cleared.set(match[1] as string, names);
    }
    expect([...cleared.keys()]).toEqual(['portcullis-strip-identity']);
    const names = cleared.get('portcullis-strip-identity') ?? new Set<string>();
    for (const family of identitySpellingFamilies()) {
      expect(names.has(family.name.toLowerCase()), family.name).toBe(true);
    }
    const chain = label(labels(compose.services.khoj), 'traefik.http.routers.khoj.middlewares');
    expect(chain?.split(',')).toEqual(['portcullis-strip-identity@docker', 'portcullis@docker']);
  });

  it('points forwardAuth at /auth/traefik and copies exactly the identity headers', () => {
    const { name, settings } = forwardAuthMiddleware();
    const config = loadConfig({ path: CONFIG_PATH.pathname, env });
    const address = new URL(settings.get('address') as string);
    expect(address.protocol).toBe('http:');
    expect(address.hostname).toBe('portcullis');
    expect(compose.services[address.hostname]).toBeDefined();
    expect(Number(address.port)).toBe(config.listen.port);
    expect(address.pathname).toBe(`${config.prefix}/traefik`);
    expect(address.pathname).toBe('/auth/traefik');
    expect(address.search).toBe('');
    expect(settings.get('trustforwardheader')).toBe('true');
    const copied = (settings.get('authresponseheaders') as string).split(',');
    // The identity, then the credentials Traefik must delete unless portcullis repeats them
    // (test/e2e/token-strip.test.ts replays that part).
    const CREDENTIALS = ['Authorization', 'Proxy-Authorization', 'X-Portcullis-Token'];
    expect(copied).toEqual([...IDENTITY, ...CREDENTIALS]);
    // Every copied identity header is one portcullis actually sends.
    const sent = Object.values(config.raw.headers).flat();
    for (const header of IDENTITY) expect(sent).toContain(header);
    // The protected app's router uses the middleware.
    const khoj = labels(compose.services.khoj);
    expect(label(khoj, 'traefik.http.routers.khoj.middlewares')?.split(',')).toContain(
      `${name}@docker`,
    );
  });

  it('ships a portcullis.yaml that loads and fits the compose file', () => {
    const portcullis = compose.services.portcullis as Service;
    const environment = portcullis.environment ?? {};
    const config = loadConfig({
      path: CONFIG_PATH.pathname,
      env: { ...env, REDIS_URL: environment.REDIS_URL },
    });
    expect(config.warnings).toEqual([]);
    // Mounted where PORTCULLIS_CONFIG says.
    expect(portcullis.volumes).toContain(`./portcullis.yaml:${environment.PORTCULLIS_CONFIG}:ro`);
    expect(environment.PORTCULLIS_SECRET_KEY).toMatch(/^\$\{PORTCULLIS_SECRET_KEY:\?/);
    expect(config.raw.store.url).toBe('redis://redis:6379/0');
    expect(new URL(config.raw.store.url).hostname in compose.services).toBe(true);
    // Its pages are routed to it on public_url's host and listen port.
    const own = labels(portcullis);
    expect(hostRule(label(own, 'traefik.http.routers.portcullis.rule'))).toBe(
      config.publicUrl.hostname,
    );
    expect(Number(label(own, 'traefik.http.services.portcullis.loadBalancer.server.port'))).toBe(
      config.listen.port,
    );
    expect(config.listen.host).toBe('0.0.0.0');
    // Trusts exactly Traefik's fixed address.
    const traefikNet = compose.services.traefik?.networks as Record<
      string,
      { ipv4_address: string }
    >;
    const traefikIp = Object.values(traefikNet)[0]?.ipv4_address as string;
    expect(config.trustedProxies.check(traefikIp, 'ipv4')).toBe(true);
    expect(config.trustedProxies.check(traefikIp.replace(/\.\d+$/, '.3'), 'ipv4')).toBe(false);
    // The session cookie covers the protected host, so rd back to it is honoured.
    const khojHost = hostRule(
      label(labels(compose.services.khoj), 'traefik.http.routers.khoj.rule'),
    );
    const domain = config.raw.session.cookie_domain?.replace(/^\./, '') ?? '';
    expect(khojHost.endsWith(`.${domain}`)).toBe(true);
  });

  it('refuses to load without the secret key (Redis store)', () => {
    expect(() =>
      loadConfig({ path: CONFIG_PATH.pathname, env: { REDIS_URL: 'redis://redis:6379/0' } }),
    ).toThrow(/auth\.secret_key/);
  });
});

interface Original {
  method: string;
  host: string;
  uri: string;
  headers: [string, string][];
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'te', 'trailers', 'transfer-encoding', 'upgrade'];
const ENTRYPOINT_STRIPPED = [
  'x-forwarded-proto',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info',
  'x-real-ip',
];
const CLIENT_IP = '198.51.100.23';

/**
 * The headers Traefik v3 sends to the forwardAuth address for this original request, arriving
 * on an https entry point from an untrusted client, with `trustForwardHeader=true`.
 */
function traefikHeaders(original: Original): [string, string][] {
  // Entry point: client-sent X-Forwarded-* / X-Real-Ip removed, then Traefik's own set.
  let headers = original.headers.filter(
    ([name]) => !ENTRYPOINT_STRIPPED.includes(name.toLowerCase()),
  );
  headers.push(
    ['X-Real-Ip', CLIENT_IP],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Port', '443'],
    ['X-Forwarded-Host', original.host],
    ['X-Forwarded-Server', 'traefik-5d8f7c'],
  );
  // forwardAuth writeHeader: every header copied, minus those the client's Connection names
  // and the hop-by-hop ones; then X-Forwarded-For/-Method/-Proto/-Port/-Host/-Uri set.
  const connection = headers.find(([name]) => name.toLowerCase() === 'connection')?.[1] ?? '';
  const named = connection.split(',').map((token) => token.trim().toLowerCase());
  headers = headers.filter(([name]) => {
    const lower = name.toLowerCase();
    return !HOP_BY_HOP.includes(lower) && !named.includes(lower);
  });
  const set = (name: string, value: string) => {
    headers = headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
    headers.push([name, value]);
  };
  set('X-Forwarded-For', CLIENT_IP);
  set('X-Forwarded-Method', original.method);
  set('X-Forwarded-Proto', 'https');
  set('X-Forwarded-Port', '443');
  set('X-Forwarded-Host', original.host);
  set('X-Forwarded-Uri', original.uri);
  return headers;
}

const BROWSER: [string, string][] = [
  ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'],
  ['Accept', HTML],
  ['Accept-Language', 'en-GB,en;q=0.5'],
  ['Accept-Encoding', 'gzip, deflate, br'],
  ['Sec-Fetch-Dest', 'document'],
  ['Sec-Fetch-Mode', 'navigate'],
  ['Sec-Fetch-Site', 'none'],
  ['Upgrade-Insecure-Requests', '1'],
  ['Connection', 'keep-alive'],
];

const FETCH: [string, string][] = [
  ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'],
  ['Accept', '*/*'],
  ['Content-Type', 'application/json'],
  ['Sec-Fetch-Dest', 'empty'],
  ['Sec-Fetch-Mode', 'cors'],
  ['Sec-Fetch-Site', 'same-origin'],
];

describe('Traefik forwardAuth, replayed against portcullis with examples/traefik/portcullis.yaml', () => {
  let app: TestApp;
  let checkPath: string;
  let alice: string;
  let admin: string;
  let aliceId: string;
  const KHOJ = 'khoj.example.com';
  const loginFor = (url: string) =>
    `https://auth.example.com/auth/login?rd=${encodeURIComponent(url)}`;

  beforeAll(async () => {
    // The shipped config, with only what cannot work here replaced: no Redis host named
    // `redis`, and requests come from 127.0.0.1 instead of Traefik's container address.
    const server = configYaml.server as Record<string, unknown>;
    app = await startTestApp(
      {
        ...configYaml,
        server: { ...server, trusted_proxies: ['127.0.0.1/32'] },
        store: { url: 'memory://' },
      },
      { env: { PORTCULLIS_SECRET_KEY: TEST_SECRET } },
    );
    checkPath = new URL(forwardAuthMiddleware().settings.get('address') as string).pathname;
    alice = await app.login('alice@example.com');
    // What Remote-User carries: the username (headers.user_value's default).
    aliceId = (await app.ctx.store.getUserByEmail('alice@example.com'))?.username as string;
    const boss = await app.ctx.users.findOrCreate('boss@example.com');
    await app.ctx.store.updateUser({ ...boss, groups: ['admins'] });
    admin = await app.login('boss@example.com');
  });

  afterAll(async () => {
    await app.close();
  });

  function check(original: Original, options: { preserveRequestMethod?: boolean } = {}) {
    return send(app.url, checkPath, {
      method: options.preserveRequestMethod ? original.method : 'GET',
      headers: traefikHeaders(original),
    });
  }

  /** What Traefik hands the app on 2xx: only the authResponseHeaders, from portcullis' answer. */
  function copiedIdentity(reply: Reply): Record<string, string | undefined> {
    const out: Record<string, string | undefined> = {};
    for (const name of IDENTITY) {
      const value = reply.headers[name.toLowerCase()];
      out[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return out;
  }

  it('lets a signed-in browser through and names the user in the copied headers', async () => {
    const reply = await check({
      method: 'GET',
      host: KHOJ,
      uri: '/chat?q=hello',
      headers: [...BROWSER, ['Cookie', `theme=dark; portcullis_session=${alice}`]],
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('');
    expect(copiedIdentity(reply)).toEqual({
      'Remote-User': aliceId,
      'Remote-Email': 'alice@example.com',
      'Remote-Name': 'alice',
      'Remote-Groups': '',
    });
  });

  it('ignores identity headers the client sent, which Traefik copies to the check', async () => {
    const forged: [string, string][] = [
      ['Remote-User', 'forged'],
      ['Remote-Email', 'boss@example.com'],
      ['Remote-Groups', 'admins'],
    ];
    const signedIn = await check({
      method: 'GET',
      host: KHOJ,
      uri: '/server/admin/',
      headers: [...BROWSER, ...forged, ['Cookie', `portcullis_session=${alice}`]],
    });
    expect(signedIn.status).toBe(403);
    const anonymous = await check({
      method: 'GET',
      host: KHOJ,
      uri: '/chat',
      headers: [...BROWSER, ...forged],
    });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers['remote-user']).toBeUndefined();
  });

  it('redirects a GET navigation without a session to the login page with rd', async () => {
    const reply = await check({
      method: 'GET',
      host: KHOJ,
      uri: '/chat?q=1&r=%2F',
      headers: BROWSER,
    });
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe(loginFor(`https://${KHOJ}/chat?q=1&r=%2F`));
    expect(reply.headers['cache-control']).toBe('no-store');
  });

  it('redirects a POST navigation without a session with 303', async () => {
    const reply = await check({
      method: 'POST',
      host: KHOJ,
      uri: '/api/chat',
      headers: [
        ...BROWSER,
        ['Content-Type', 'application/x-www-form-urlencoded'],
        ['Content-Length', '3'],
      ],
    });
    expect(reply.status).toBe(303);
    expect(reply.headers.location).toBe(loginFor(`https://${KHOJ}/api/chat`));
  });

  it('answers fetch, XHR and JSON clients without a session with 401 JSON', async () => {
    const variants: [string, string][][] = [
      FETCH,
      [
        ['Accept', 'text/html, */*; q=0.01'],
        ['X-Requested-With', 'XMLHttpRequest'],
      ],
      [
        ['Accept', 'application/json'],
        ['User-Agent', 'curl/8.5.0'],
      ],
    ];
    for (const headers of variants) {
      const reply = await check({
        method: 'POST',
        host: KHOJ,
        uri: '/api/chat?stream=true',
        headers,
      });
      expect(reply.status).toBe(401);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(reply.body)).toEqual({
        error: 'unauthenticated',
        login_url: loginFor(`https://${KHOJ}/api/chat?stream=true`),
      });
    }
  });

  it('answers a HEAD without a body (preserveRequestMethod sends HEAD to the check)', async () => {
    const headers = traefikHeaders({ method: 'HEAD', host: KHOJ, uri: '/chat', headers: FETCH });
    const { port } = new URL(app.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let data = '';
      socket.on('data', (chunk: Buffer) => {
        data += chunk.toString('latin1');
      });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
      const lines = [`HEAD ${checkPath} HTTP/1.1`, 'Host: portcullis:4180', 'Connection: close'];
      for (const [name, value] of headers) lines.push(`${name}: ${value}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 401 /);
    expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe('');
    // Traefik's default (GET to the check, X-Forwarded-Method: HEAD) for a browser: 302.
    const reply = await check({ method: 'HEAD', host: KHOJ, uri: '/chat', headers: BROWSER });
    expect(reply.status).toBe(302);
  });

  it('answers 403 to a signed-in user the rules deny, 200 to an admin', async () => {
    const original = (cookie: string): Original => ({
      method: 'GET',
      host: KHOJ,
      uri: '/server/admin/database/',
      headers: [...BROWSER, ['Cookie', `portcullis_session=${cookie}`]],
    });
    expect((await check(original(alice))).status).toBe(403);
    const allowed = await check(original(admin));
    expect(allowed.status).toBe(200);
    expect(allowed.headers['remote-groups']).toBe('admins');
    // default_policy: deny — a host with no rule is closed even to signed-in users.
    const other = await check({
      method: 'GET',
      host: 'grafana.example.com',
      uri: '/',
      headers: [...BROWSER, ['Cookie', `portcullis_session=${alice}`]],
    });
    expect(other.status).toBe(403);
  });

  it('checks a WebSocket upgrade: 200 with a session, 401 (not a redirect) without', async () => {
    // Traefik drops Connection and Upgrade from the check; the rest of the handshake is copied.
    const handshake: [string, string][] = [
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['Sec-WebSocket-Version', '13'],
      ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
      ['Sec-Fetch-Mode', 'websocket'],
      ['Origin', `https://${KHOJ}`],
    ];
    const signedIn = await check({
      method: 'GET',
      host: KHOJ,
      uri: '/api/chat/ws?client=web',
      headers: [...handshake, ['Cookie', `portcullis_session=${alice}`]],
    });
    expect(signedIn.status).toBe(200);
    expect(signedIn.headers['remote-email']).toBe('alice@example.com');
    const anonymous = await check({
      method: 'GET',
      host: KHOJ,
      uri: '/api/chat/ws?client=web',
      headers: handshake,
    });
    expect(anonymous.status).toBe(401);
  });
});
