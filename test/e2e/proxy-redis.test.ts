import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { waitFor } from '../helpers/ports.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/** The reverse proxy with a real Redis: revocation across instances, and a store outage. */
describe('reverse proxy with Redis', () => {
  let redis: RedisServer;
  let upstream: EchoUpstream;
  let one: TestApp;
  let two: TestApp;

  beforeAll(async () => {
    [redis, upstream] = await Promise.all([startRedis(), startEchoUpstream()]);
    const config = {
      store: { url: redis.url, key_prefix: `proxy:${randomBytes(4).toString('hex')}:` },
      proxy: { upstream: upstream.url },
    };
    one = await startTestApp(config);
    two = await startTestApp(config);
  });

  afterAll(async () => {
    await one?.close();
    await two?.close();
    await upstream?.close();
    await redis?.stop();
  });

  const get = (app: TestApp, cookie: string, accept = 'application/json') =>
    fetch(`${app.url}/notes`, {
      headers: { cookie: `portcullis_session=${cookie}`, accept },
      redirect: 'manual',
    });

  function handshake(
    app: TestApp,
    cookie: string,
  ): Promise<{ ws: WebSocket } | { status: number }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${app.url.replace('http:', 'ws:')}/comms`, {
        headers: { Cookie: `portcullis_session=${cookie}` },
      });
      ws.once('open', () => resolve({ ws }));
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
      ws.once('error', reject);
    });
  }

  it('closes a WebSocket opened through one instance when another revokes the session', async () => {
    const cookie = await one.login('wendy@example.com');
    expect((await get(two, cookie)).status).toBe(200);
    const opened = await handshake(one, cookie);
    if (!('ws' in opened)) throw new Error(`handshake refused: ${opened.status}`);
    const closed = new Promise<number>((resolve) =>
      opened.ws.once('close', (code) => resolve(code)),
    );
    const me = await two.ctx.sessions.resolve(cookie);
    if (me.kind !== 'valid') throw new Error('no session');
    const started = Date.now();
    await two.ctx.sessions.revoke(me.live.session.id);
    expect(await closed).toBe(1006);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await handshake(one, cookie)).toEqual({ status: 401 });
  });

  it('answers 503 (never the app) while Redis is down, and recovers by itself', async () => {
    const cookie = await one.login('xavier@example.com');
    expect((await get(one, cookie)).status).toBe(200);
    await redis.kill();
    try {
      await waitFor(
        async () => (await get(one, cookie)).status === 503,
        10_000,
        '503 during the outage',
      );
      const forwarded = upstream.requests.length;
      const page = await get(one, cookie, 'text/html');
      expect(page.status).toBe(503);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('unreachable');
      const api = await get(one, cookie);
      expect(api.status).toBe(503);
      expect(await api.json()).toMatchObject({ error: 'store_unavailable' });
      expect(await handshake(one, cookie)).toEqual({ status: 503 });
      // Nothing reached the app during the outage.
      expect(upstream.requests.length).toBe(forwarded);
    } finally {
      await redis.restart();
    }
    // This Redis keeps nothing across a restart: the old session is gone (401, not 503), and a
    // new sign-in works without restarting portcullis.
    await waitFor(
      async () => (await get(one, cookie)).status === 401,
      20_000,
      'recovery after restart',
    );
    const again = await one.login('xavier@example.com');
    expect((await get(one, again)).status).toBe(200);
  });
});
