import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionTokens } from '../../src/core/session-token.js';
import { startTestApp, TEST_SECRET, type TestApp, writeConfig } from '../helpers/app.js';
import { waitFor } from '../helpers/ports.js';
import {
  type PortcullisProcess,
  redeemLoginLink,
  runCli,
  startPortcullis,
} from '../helpers/process.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/**
 * SPEC §5: while the store is unreachable the auth check answers 503, never 200 — not even from
 * the local session cache — and recovers by itself when the store is back. nginx and Traefik
 * read any 2xx as "let in", so a cached 200 during an outage would let revoked sessions through.
 */
const TARGET = 'http://app.example.test/private';

type Dialect = 'nginx' | 'traefik';

function check(base: string, dialect: Dialect, cookie: string): Promise<Response> {
  const headers: Record<string, string> = { cookie: `portcullis_session=${cookie}` };
  if (dialect === 'nginx') {
    headers['x-original-url'] = TARGET;
    headers['x-original-method'] = 'GET';
  } else {
    // What Traefik's forwardAuth sends for a fetch() from the protected app.
    headers['x-forwarded-method'] = 'GET';
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-host'] = 'app.example.test';
    headers['x-forwarded-uri'] = '/private';
    headers.accept = 'application/json';
  }
  return fetch(`${base}/auth/${dialect}`, { headers });
}

async function statuses(base: string, cookie: string): Promise<number[]> {
  const answers = await Promise.all([check(base, 'nginx', cookie), check(base, 'traefik', cookie)]);
  return answers.map((r) => r.status);
}

async function readyz(base: string): Promise<number> {
  return (await fetch(`${base}/auth/readyz`)).status;
}

describe('Redis SIGKILLed under a running portcullis', () => {
  let redis: RedisServer;
  let app: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    app = await startTestApp({
      store: { url: redis.url, key_prefix: `faults:${randomBytes(4).toString('hex')}:` },
    });
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('answers 503 (never 200) during the outage, even for cached sessions, and recovers after restart', async () => {
    const cookie = await app.login('carol@example.com');
    expect(await statuses(app.url, cookie)).toEqual([200, 200]);
    // Warm: this cookie is answered from the local cache now, without a store round trip.
    expect(app.ctx.sessions.peek(cookie)?.kind).toBe('valid');
    expect(await readyz(app.url)).toBe(200);

    await redis.kill();
    // Immediately after the kill, and many times at once: the cache must not answer.
    const burst = await Promise.all(
      Array.from({ length: 25 }, (_, i) => check(app.url, i % 2 ? 'nginx' : 'traefik', cookie)),
    );
    expect(burst.map((r) => r.status)).toEqual(Array(25).fill(503));
    expect(burst[0]?.headers.get('retry-after')).toBe('1');
    // SPEC §5: said as JSON to an API client (the Traefik check above asks as fetch() does) and
    // as a short page to a person.
    expect(await burst[0]?.json()).toMatchObject({ error: 'store_unavailable' });
    const page = await fetch(`${app.url}/auth/traefik`, {
      headers: {
        cookie: `portcullis_session=${cookie}`,
        'x-forwarded-method': 'GET',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'app.example.test',
        'x-forwarded-uri': '/private',
        accept: 'text/html',
      },
    });
    expect(page.status).toBe(503);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('session store is unreachable');
    // The availability event dropped the cache.
    expect(app.ctx.sessions.peek(cookie)).toBeUndefined();

    // And for as long as the outage lasts (past the 1 s cache lifetime).
    const seen = new Set<number>();
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      for (const status of await statuses(app.url, cookie)) seen.add(status);
      await new Promise((r) => setTimeout(r, 25));
    }
    expect([...seen]).toEqual([503]);
    expect(await readyz(app.url)).toBe(503);
    // A request without a session does not need the store: still a login prompt, not an error.
    const anonymous = await fetch(`${app.url}/auth/nginx`, {
      headers: { 'x-original-url': TARGET },
    });
    expect(anonymous.status).toBe(401);

    await redis.restart();
    await waitFor(async () => (await readyz(app.url)) === 200, 15_000, 'readyz after restart');
    // Redis kept nothing (no persistence): the old session is gone, a new one works.
    expect(await statuses(app.url, cookie)).toEqual([401, 401]);
    const fresh = await app.login('carol@example.com');
    expect(await statuses(app.url, fresh)).toEqual([200, 200]);
    expect(app.ctx.sessions.peek(fresh)?.kind).toBe('valid');
  });

  it('a second outage is handled the same way (the store reconnects more than once)', async () => {
    const cookie = await app.login('dan@example.com');
    expect(await statuses(app.url, cookie)).toEqual([200, 200]);
    await redis.kill();
    expect(await statuses(app.url, cookie)).toEqual([503, 503]);
    await redis.restart();
    await waitFor(async () => (await readyz(app.url)) === 200, 15_000, 'readyz after restart');
    const fresh = await app.login('dan@example.com');
    expect(await statuses(app.url, fresh)).toEqual([200, 200]);
  });
});

describe('portcullis started while Redis is down', () => {
  let redis: RedisServer;
  let server: PortcullisProcess;
  const prefix = `late:${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    redis = await startRedis();
    await redis.kill();
    server = await startPortcullis({ store: { url: redis.url, key_prefix: prefix } });
  });

  afterAll(async () => {
    await server?.stop();
    await redis?.stop();
  });

  it('answers 503 until Redis comes up, then recovers without a restart', async () => {
    // A correctly signed cookie: only the store can say whether its session exists.
    const tokens = await SessionTokens.create([Buffer.from(TEST_SECRET, 'hex')]);
    const now = Date.now();
    const signed = await tokens.sign('session-from-before', now, now + 3_600_000);
    expect(await readyz(server.url)).toBe(503);
    expect(await statuses(server.url, signed)).toEqual([503, 503]);
    expect(server.output()).toContain('Redis is not reachable yet');

    await redis.restart();
    await waitFor(async () => (await readyz(server.url)) === 200, 15_000, 'readyz after start');
    expect(await statuses(server.url, signed)).toEqual([401, 401]);

    const configPath = writeConfig({
      auth: { secret_key: TEST_SECRET },
      server: { public_url: server.url },
      store: { url: redis.url, key_prefix: prefix },
      log: { level: 'error' },
    });
    const cli = await runCli(['login-url', 'erin@example.com', '--config', configPath]);
    expect(cli.code).toBe(0);
    const cookie = await redeemLoginLink(server.url, cli.stdout.trim());
    expect(await statuses(server.url, cookie)).toEqual([200, 200]);
  });
});
