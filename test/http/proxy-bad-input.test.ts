import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, sentByPath, startEchoUpstream } from '../helpers/echo-upstream.js';
import { waitFor } from '../helpers/ports.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface RawAnswer {
  text: string;
  status: number;
  /** The proxy closed the connection before `waitMs`. */
  closed: boolean;
}

/** Writes bytes as they are (no client library would send these) and reads the answer. */
function raw(port: number, bytes: string, waitMs = 2000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ text, status, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d) => {
      text += d.toString('latin1');
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(bytes, 'latin1');
  });
}

function connections(app: TestApp): Promise<number> {
  return new Promise((resolve, reject) =>
    app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n';

describe('reverse proxy: bad input', () => {
  let upstream: EchoUpstream;
  let app: TestApp;
  let port: number;
  let heapBefore = 0;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    // Anonymous mode: every well-formed request would pass, so a refusal here is the parser's.
    app = await startTestApp({
      anonymous_mode: true,
      proxy: { upstream: upstream.url, body_timeout: '5s' },
    });
    port = Number(new URL(app.url).port);
    // Warm up the paths once, then take the heap baseline.
    await raw(port, 'GET /warm HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
    gc();
    heapBefore = process.memoryUsage().heapUsed;
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  it('forwards a well-formed request (the baseline for the cases below)', async () => {
    const answer = await raw(
      port,
      'GET /fine HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n',
    );
    expect(answer.status).toBe(200);
    expect(upstream.requests).toContain('GET /fine');
  });

  const smuggling: [string, string][] = [
    [
      'Content-Length with Transfer-Encoding',
      `POST /cl-te HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    ],
    [
      'two different Content-Lengths',
      `POST /cl-cl HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n${SMUGGLED}`,
    ],
    [
      'two equal Content-Lengths',
      `POST /cl-same HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd${SMUGGLED}`,
    ],
    [
      'an obs-fold continuation line',
      `GET /fold HTTP/1.1\r\nHost: app.test\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\n\r\n${SMUGGLED}`,
    ],
    [
      'a space before the colon',
      `POST /space HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    ],
    [
      'an unknown transfer coding',
      `POST /xchunked HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    ],
    [
      'chunked, then identity',
      `POST /te-list HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    ],
    [
      'two Host headers',
      `GET /two-hosts HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\n\r\n${SMUGGLED}`,
    ],
    ['bare LF line endings', `GET /lf HTTP/1.1\nHost: app.test\n\n${SMUGGLED}`],
  ];

  it.each(smuggling)('refuses %s with 400 and closes, forwarding nothing', async (_name, bytes) => {
    const before = upstream.requests.length;
    const answer = await raw(port, bytes);
    await new Promise((r) => setTimeout(r, 200));
    expect(answer.status).toBe(400);
    expect(answer.closed).toBe(true);
    expect(answer.text).not.toContain('"sha256"');
    expect(upstream.requests.slice(before)).toEqual([]);
  });

  it('closes on a malformed chunk size without letting a smuggled request through', async () => {
    const before = upstream.requests.length;
    const answer = await raw(
      port,
      `POST /bad-chunk HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n${SMUGGLED}`,
    );
    expect(answer.closed).toBe(true);
    expect(answer.status === 400 || answer.status === 0).toBe(true);
    // The request may have started upstream (its head was valid); its body never completed.
    expect(upstream.requests.slice(before).filter((r) => r !== 'POST /bad-chunk')).toEqual([]);
  });

  it.each([
    [
      'a 64 KiB header value',
      `GET /big HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'a'.repeat(65_536)}\r\n\r\n`,
    ],
    ['a 32 KiB URL', `GET /${'u'.repeat(32_768)} HTTP/1.1\r\nHost: app.test\r\n\r\n`],
    [
      '3 000 small headers',
      `GET /many HTTP/1.1\r\nHost: app.test\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`,
    ],
  ])('refuses %s and closes', async (_name, bytes) => {
    const before = upstream.requests.length;
    const answer = await raw(port, bytes);
    expect([400, 431]).toContain(answer.status);
    expect(answer.closed).toBe(true);
    expect(upstream.requests.length).toBe(before);
  });

  const handshake = (lines: string[]) =>
    `GET /ws HTTP/1.1\r\nHost: app.test\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
  const UPGRADE = ['Upgrade: websocket', 'Connection: Upgrade'];

  it.each([
    ['a short key', 400, [...UPGRADE, 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: short']],
    [
      'a key that is not 16 bytes',
      400,
      [
        ...UPGRADE,
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${Buffer.alloc(20).toString('base64')}`,
      ],
    ],
    ['no key', 400, [...UPGRADE, 'Sec-WebSocket-Version: 13']],
    [
      'an old protocol version',
      426,
      [...UPGRADE, 'Sec-WebSocket-Version: 8', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='],
    ],
    [
      'an h2c upgrade',
      400,
      ['Upgrade: h2c', 'Connection: Upgrade, HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAAQAAP__'],
    ],
  ] as [string, number, string[]][])(
    'refuses an upgrade with %s before the upstream sees it',
    async (_name, status, lines) => {
      const before = upstream.requests.length;
      const answer = await raw(port, handshake(lines));
      expect(answer.status).toBe(status);
      expect(answer.closed).toBe(true);
      if (status === 426) expect(answer.text).toMatch(/Sec-WebSocket-Version: 13/i);
      expect(upstream.requests.slice(before)).toEqual([]);
    },
  );

  it('passes a request with Upgrade but no Connection: upgrade on as a plain request', async () => {
    const before = upstream.requests.length;
    const answer = await raw(
      port,
      handshake([
        'Upgrade: websocket',
        'Connection: close',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ]),
    );
    expect(answer.status).toBe(200);
    expect(upstream.requests.slice(before)).toEqual(['GET /ws']);
    expect(answer.text.toLowerCase()).not.toContain('"upgrade"');
  });

  it('holds the upstream back when a client stops reading, without buffering, and cleans up', async () => {
    const total = 200 * 1024 * 1024;
    const socket = connect(port, '127.0.0.1');
    socket.write(`GET /stream-pattern?bytes=${total}&tag=stall HTTP/1.1\r\nHost: app.test\r\n\r\n`);
    let received = 0;
    await new Promise<void>((resolve) => {
      socket.once('data', (d) => {
        received += d.length;
        socket.pause();
        resolve();
      });
    });
    const rssBefore = process.memoryUsage().rss;
    await new Promise((r) => setTimeout(r, 2500));
    const growth = process.memoryUsage().rss - rssBefore;
    // Without back-pressure the whole 200 MB would sit in the proxy's memory by now.
    expect(growth).toBeLessThan(48 * 1024 * 1024);
    socket.destroy();
    await waitFor(() => sentByPath.has('stall'), 10_000, 'upstream response to close');
    expect(sentByPath.get('stall')).toBeLessThan(total / 4);
    expect(received).toBeLessThan(total);
    await waitFor(
      async () => (await connections(app)) === 0,
      10_000,
      'client connections to close',
    );
  });

  it('leaves no sockets or memory behind after all of the above', async () => {
    await waitFor(
      async () => (await connections(app)) === 0,
      10_000,
      'client connections to close',
    );
    // Every socket the upstream still has open is an idle keep-alive connection of the pool.
    await waitFor(
      () => upstream.openSockets === (app.proxy?.upstreamConnections ?? -1),
      10_000,
      'upstream sockets to match the pool',
    );
    expect(app.proxy?.openTunnels).toBe(0);
    gc();
    await new Promise((r) => setTimeout(r, 100));
    gc();
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(24 * 1024 * 1024);
  });
});
