import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionTokens } from '../../src/core/session-token.js';
import { StoreUnavailableError } from '../../src/ports/store.js';
import { startTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { websocketHandshake } from '../helpers/raw-request.js';

/**
 * Reverse-proxy mode when the session cannot be read: an outage of the store is a 503 (it comes
 * back by itself), any other failure a 500 — for plain requests and WebSocket handshakes alike,
 * and in neither case does the request reach the app.
 */

/** Sends a WebSocket handshake and returns the status line's code. */
function handshake(port: number, cookie: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n')) {
        socket.destroy();
        resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
      }
    });
    socket.on('error', reject);
    socket.write(websocketHandshake('/socket', cookie));
  });
}

describe('reverse proxy: the session store fails', () => {
  let upstream: EchoUpstream;
  let app: TestApp;
  let port: number;
  let sid: string;
  let restore: (() => void) | null = null;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({ proxy: { upstream: upstream.url } });
    port = Number(new URL(app.url).port);
    const cookie = await app.login('alice@example.com');
    const payload = JSON.parse(
      Buffer.from(cookie.split('.')[1] as string, 'base64url').toString('utf8'),
    ) as { sid: string };
    sid = payload.sid;
  });

  afterEach(() => {
    restore?.();
    restore = null;
  });

  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  /** Makes the store's session reads fail with `error`; returns a cookie no cache has seen. */
  async function failWith(error: Error, offsetMs: number): Promise<string> {
    const store = app.ctx.store;
    const original = store.getSession.bind(store);
    store.getSession = () => Promise.reject(error);
    restore = () => {
      store.getSession = original;
    };
    const tokens = await SessionTokens.create([Buffer.from(TEST_SECRET, 'hex')]);
    const now = Date.now() + offsetMs;
    return tokens.sign(sid, now, now + 60_000);
  }

  const cases = [
    {
      name: 'an outage',
      error: new StoreUnavailableError(new Error('connect ECONNREFUSED 127.0.0.1:6379')),
      status: 503,
      code: 'store_unavailable',
    },
    {
      name: 'a fault',
      error: new Error('WRONGTYPE Operation against a key holding the wrong kind of value'),
      status: 500,
      code: 'internal',
    },
  ];

  cases.forEach(({ name, error, status, code }, i) => {
    it(`${name}: a request gets ${status} and never reaches the app`, async () => {
      const cookie = await failWith(error, 1000 * (2 * i + 1));
      const before = upstream.requests.length;
      const response = await fetch(`${app.url}/private`, {
        headers: { accept: 'application/json', cookie: `portcullis_session=${cookie}` },
      });
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject({ error: code });
      expect(response.headers.get('retry-after')).toBe(status === 503 ? '1' : null);
      expect(upstream.requests.length).toBe(before);
    });

    it(`${name}: a WebSocket handshake gets ${status} and never reaches the app`, async () => {
      const cookie = await failWith(error, 1000 * (2 * i + 2));
      const before = upstream.requests.length;
      expect(await handshake(port, cookie)).toBe(status);
      expect(upstream.requests.length).toBe(before);
    });
  });
});
