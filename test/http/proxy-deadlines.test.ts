import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { websocketHandshake } from '../helpers/raw-request.js';

// The proxy's deadlines (proxy.timeout, proxy.body_timeout, an upload's silences, a WebSocket
// handshake's wait) run on the injected timers: here a ManualClock, moved by hand, so each
// deadline is tested to the millisecond without waiting for it. The sockets, the upstream and
// undici are real; test/http/proxy.test.ts keeps one real-time 504 for Node's own timers.

const HEADERS_MS = 60_000;
const BODY_MS = 300_000;

/** An upstream that misbehaves on purpose, and says which requests reached it. */
interface Upstream {
  url: string;
  /** `METHOD /path` of each request as its headers arrived; uploads add `+end` when complete. */
  seen: string[];
  /** `/big` responses still open. */
  readonly openBig: number;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const seen: string[] = [];
  const held = new Set<Socket>();
  let openBig = 0;
  const server: Server = createServer((req: IncomingMessage, res) => {
    seen.push(`${req.method} ${req.url}`);
    held.add(req.socket);
    if (req.url === '/hang') return; // headers never come
    if (req.url === '/silent-body') {
      // Promises 100 bytes, sends 10, then goes quiet.
      res.writeHead(200, ['Content-Length', '100', 'Content-Type', 'text/plain']);
      res.write('0123456789');
      return;
    }
    if (req.url === '/big') {
      // 32 MiB, written as fast as the proxy takes it: a client that stops reading holds it back.
      const block = Buffer.alloc(64 * 1024, 97);
      let left = 512;
      openBig++;
      res.on('close', () => openBig--);
      res.writeHead(200, ['Content-Length', String(left * block.length)]);
      const pump = (): void => {
        while (left > 0) {
          left--;
          if (!res.write(block)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (req.url === '/early') {
      // Answers at once, before the upload is over; reads the rest afterwards.
      req.resume();
      res.writeHead(413, ['Content-Length', '8']);
      res.end('too big\n');
      return;
    }
    if (req.url === '/upload') {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} +end`);
        res.end(JSON.stringify({ bytes }));
      });
      return;
    }
    res.end('ok');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    seen.push(`UPGRADE ${req.url}`);
    held.add(socket); // never answered
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    get openBig() {
      return openBig;
    },
    async close() {
      for (const socket of held) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls until `condition` holds (real time: only sockets and undici's dispatch need it). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Every deadline ended with its exchange. Not at once: after an aborted exchange undici opens
 * a fresh idle connection, whose connect_timeout runs until it is up (a moment on loopback).
 */
let noTimerLeft: () => Promise<void>;

/** Lets sockets and undici move on, without moving the ManualClock. */
const settle = () => new Promise((r) => setTimeout(r, 30));

interface Outcome {
  status?: number;
  body: string;
  /** How the client's connection ended: 'end' (a whole answer) or 'error' (cut). */
  ended: 'end' | 'error' | null;
}

describe('reverse proxy: deadlines on the injected clock', () => {
  let upstream: Upstream;
  let app: TestApp;
  let clock: ManualClock;
  let cookie: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    clock = new ManualClock();
    app = await startTestApp(
      { proxy: { upstream: upstream.url, timeout: '60s', body_timeout: '300s' } },
      { timers: clock },
    );
    cookie = await app.login('deadline@example.com');
    noTimerLeft = () => until(() => clock.timers === 0, 'no timer left');
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });
  beforeEach(() => {
    upstream.seen.length = 0;
  });

  /** Sends a request through the proxy; the outcome object fills in as the answer arrives. */
  function send(method: string, path: string, headers: Record<string, string> = {}) {
    const outcome: Outcome = { body: '', ended: null };
    const req = httpRequest(`${app.url}${path}`, {
      method,
      headers: { Cookie: `portcullis_session=${cookie}`, Accept: 'text/html', ...headers },
    });
    req.on('response', (res) => {
      outcome.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        outcome.body += chunk;
      });
      res.on('end', () => {
        outcome.ended ??= 'end';
      });
      res.on('error', () => {
        outcome.ended ??= 'error';
      });
      res.on('aborted', () => {
        outcome.ended ??= 'error';
      });
    });
    req.on('error', () => {
      outcome.ended ??= 'error';
    });
    return { req, outcome };
  }

  it('answers 504 when the headers take exactly proxy.timeout, not a millisecond before', async () => {
    const { req, outcome } = send('GET', '/hang');
    req.end();
    await until(() => upstream.seen.includes('GET /hang'), 'the upstream to get the request');
    clock.advance(HEADERS_MS - 1);
    await settle();
    expect(outcome.status).toBeUndefined();
    clock.advance(1);
    await until(() => outcome.ended !== null, 'the answer');
    expect(outcome.status).toBe(504);
    expect(outcome.body).toContain('did not answer in time');
    await noTimerLeft();
  });

  it('cuts a response body that goes silent for proxy.body_timeout (never a short body that looks whole)', async () => {
    const { req, outcome } = send('GET', '/silent-body');
    req.end();
    await until(() => outcome.body === '0123456789', 'the first bytes');
    expect(outcome.status).toBe(200);
    clock.advance(BODY_MS - 1);
    await settle();
    expect(outcome.ended).toBeNull();
    clock.advance(1);
    await until(() => outcome.ended !== null, 'the connection to end');
    expect(outcome.ended).toBe('error');
    await noTimerLeft();
  });

  /** Starts `GET /big` on a raw socket; counts the bytes that arrive while it is read. */
  async function startBig() {
    const socket = connect(Number(new URL(app.url).port), '127.0.0.1');
    const state = { bytes: 0, closed: false };
    socket.on('error', () => {});
    socket.on('close', () => {
      state.closed = true;
    });
    socket.on('data', (chunk: Buffer) => {
      state.bytes += chunk.length;
    });
    socket.write(
      `GET /big HTTP/1.1\r\nHost: app.test\r\nCookie: portcullis_session=${cookie}\r\n\r\n`,
    );
    await until(() => state.bytes > 0, 'the first bytes');
    socket.pause();
    // Long enough for both socket buffers to fill and the upstream to be held back.
    await settle();
    await settle();
    return { socket, state };
  }

  it('lets a client pause reading for less than proxy.body_timeout, then sends it the rest', async () => {
    const { socket, state } = await startBig();
    const held = state.bytes;
    clock.advance(BODY_MS - 1);
    await settle();
    expect(state.closed).toBe(false);
    socket.resume();
    await until(() => state.bytes >= 32 * 1024 * 1024, 'the whole body');
    expect(held).toBeLessThan(32 * 1024 * 1024);
    socket.destroy();
    await noTimerLeft();
  });

  it('cuts a client that stops reading for proxy.body_timeout and lets the upstream go', async () => {
    const { socket, state } = await startBig();
    const held = state.bytes;
    clock.advance(BODY_MS);
    socket.resume();
    await until(() => state.closed, 'the connection to close');
    // Cut, not finished: what was buffered may still arrive, never the whole body.
    expect(state.bytes).toBeLessThan(32 * 1024 * 1024);
    expect(held).toBeLessThan(32 * 1024 * 1024);
    await until(() => upstream.openBig === 0, 'the upstream response to close');
    await noTimerLeft();
  });

  it('lets an upload take longer than proxy.timeout while it keeps sending, then times the answer', async () => {
    const { req, outcome } = send('POST', '/upload', { 'Content-Length': '40' });
    for (let i = 0; i < 4; i++) {
      req.write('0123456789');
      await settle();
      // Each silence is a millisecond short of body_timeout; together they pass proxy.timeout.
      clock.advance(BODY_MS - 1);
    }
    req.end();
    await until(() => outcome.ended !== null, 'the answer');
    expect(outcome.status).toBe(200);
    expect(JSON.parse(outcome.body)).toEqual({ bytes: 40 });
    expect(upstream.seen).toEqual(['POST /upload', 'POST /upload +end']);
    await noTimerLeft();
  });

  it('cuts an upload that goes silent for proxy.body_timeout; the upstream never gets a whole body', async () => {
    const { req, outcome } = send('POST', '/upload', { 'Content-Length': '1000' });
    req.write('first part\n');
    await until(() => upstream.seen.includes('POST /upload'), 'the upstream to see the upload');
    await settle();
    clock.advance(BODY_MS);
    await until(() => outcome.ended !== null, 'the connection to end');
    expect(outcome.status === undefined || outcome.status >= 500).toBe(true);
    expect(upstream.seen).toEqual(['POST /upload']);
    await noTimerLeft();
  });

  it('times nothing more when the answer comes before the upload ended', async () => {
    const { req, outcome } = send('POST', '/early', { 'Content-Length': '20' });
    req.write('0123456789');
    await until(() => outcome.status !== undefined, 'the early answer');
    expect(outcome.status).toBe(413);
    req.end('0123456789');
    await until(() => outcome.ended !== null, 'the answer to end');
    await settle();
    await noTimerLeft();
    // No deadline left over fires into the finished exchange.
    clock.advance(HEADERS_MS + BODY_MS);
    await settle();
    expect(outcome.ended).toBe('end');
  });

  it('answers 504 to a WebSocket handshake the upstream leaves unanswered for proxy.timeout', async () => {
    const socket = connect(Number(new URL(app.url).port), '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', () => {});
    socket.write(websocketHandshake('/ws', cookie));
    await until(() => upstream.seen.includes('UPGRADE /ws'), 'the upstream to get the handshake');
    clock.advance(HEADERS_MS - 1);
    await settle();
    expect(answer).toBe('');
    clock.advance(1);
    await until(() => answer.includes('\r\n\r\n'), 'the refusal');
    expect(answer).toMatch(/^HTTP\/1\.1 504 /);
    socket.destroy();
    await noTimerLeft();
  });

  it('leaves no timer behind for exchanges that finished on time', async () => {
    for (let i = 0; i < 20; i++) {
      const { req, outcome } = send('GET', `/fine-${i}`);
      req.end();
      await until(() => outcome.ended !== null, 'the answer');
      expect(outcome.status).toBe(200);
    }
    await noTimerLeft();
  });
});

describe('reverse proxy: connect_timeout on the injected clock', () => {
  // An upstream whose listen queue is full: the kernel drops further SYNs, so a connection
  // attempt hangs as it would towards a host that is down. python3's listen(0) never accepts.
  let holder: ChildProcess;
  let filler: Socket;
  let app: TestApp;
  let clock: ManualClock;
  let cookie: string;

  beforeAll(async () => {
    holder = spawn('python3', [
      '-c',
      'import socket,sys\ns=socket.socket();s.bind(("127.0.0.1",0));s.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()',
    ]);
    const port = await new Promise<number>((resolve, reject) => {
      holder.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      holder.once('error', reject);
    });
    filler = connect(port, '127.0.0.1');
    filler.on('error', () => {});
    await new Promise((resolve) => filler.once('connect', resolve));
    clock = new ManualClock();
    app = await startTestApp(
      { proxy: { upstream: `http://127.0.0.1:${port}`, connect_timeout: '10s', timeout: '60s' } },
      { timers: clock },
    );
    cookie = await app.login('connect@example.com');
  });
  afterAll(async () => {
    await app?.close();
    filler?.destroy();
    holder?.kill();
  });

  it('answers 504 when connecting takes exactly connect_timeout, and lets the attempt go', async () => {
    let status = 0;
    let body = '';
    const req = httpRequest(`${app.url}/anything`, {
      headers: { Cookie: `portcullis_session=${cookie}`, Accept: 'text/html' },
    });
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
    });
    req.on('error', () => {});
    req.end();
    // The connect timer and the headers timer, both waiting.
    await until(() => clock.timers === 2, 'the connection attempt');
    clock.advance(10_000 - 1);
    await settle();
    expect(status).toBe(0);
    clock.advance(1);
    await until(() => status !== 0 && body.includes('</html>'), 'the answer');
    expect(status).toBe(504);
    expect(body).toContain('did not answer in time');
    expect(clock.timers).toBe(0);
    expect(app.proxy?.upstreamConnections).toBe(0);
  });
});
