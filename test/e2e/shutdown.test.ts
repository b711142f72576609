import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { type PortcullisProcess, startPortcullis } from '../helpers/process.js';

/**
 * SIGTERM on the real binary in proxy mode (issue 11): readyz 503 at once, in-flight work
 * finishes, WebSockets get a clean 1001 close, idle keep-alives are closed, exit 0, all within
 * server.drain_timeout.
 */

function exitOf(pc: PortcullisProcess): Promise<number | null> {
  if (pc.child.exitCode !== null) return Promise.resolve(pc.child.exitCode);
  return once(pc.child, 'exit').then(([code]) => code as number | null);
}

function openSocket(url: string): Promise<{ ws: WebSocket; hello: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http:', 'ws:')}/live`);
    ws.once('message', (data) => resolve({ ws, hello: JSON.parse(String(data)) }));
    ws.once('error', reject);
  });
}

/** A keep-alive connection that has had one answer and now sits idle; resolves when it closes. */
async function idleKeepAlive(port: number): Promise<{ closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /idle HTTP/1.1\r\nHost: app.test\r\nConnection: keep-alive\r\n\r\n');
  let seen = '';
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (seen.includes('\r\n\r\n') && seen.includes('"bytes"')) resolve();
    });
  });
  expect(seen).toMatch(/^HTTP\/1\.1 200/);
  // Wrapped: an async function returning a promise would wait for it.
  return { closed: once(socket, 'close').then(() => undefined) };
}

describe('graceful shutdown of the real binary (proxy mode)', () => {
  let upstream: EchoUpstream;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  const start = (drain: string) =>
    startPortcullis({
      server: { drain_timeout: drain },
      proxy: { upstream: upstream.url },
      access: { default_policy: 'bypass' },
    });

  it('answers readyz 503 at once, finishes in-flight requests and streams, closes WebSockets with 1001, exits 0', async () => {
    const drainMs = 6000;
    const pc = await start('6s');
    try {
      expect((await fetch(`${pc.url}/auth/readyz`)).status).toBe(200);
      const { ws, hello } = await openSocket(pc.url);
      expect(hello).toMatchObject({ hello: '/live' });
      const wsClosed = once(ws, 'close') as Promise<[number, Buffer]>;
      const idle = await idleKeepAlive(pc.port);
      const before = upstream.requests.length;
      const slow = Array.from({ length: 20 }, (_, i) =>
        fetch(`${pc.url}/slow?ms=1500&i=${i}`).then(async (r) => ({
          status: r.status,
          body: await r.text(),
        })),
      );
      const stream = fetch(`${pc.url}/chunks?n=6&gap=250`).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      }));
      // Every request has reached the upstream before the signal: they are truly in flight.
      const deadline = Date.now() + 5000;
      while (upstream.requests.length < before + 21 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(upstream.requests.length).toBeGreaterThanOrEqual(before + 21);

      const signalled = Date.now();
      const exited = exitOf(pc);
      pc.child.kill('SIGTERM');
      // readyz turns 503 as soon as the signal is handled, and the listener still answers.
      let ready = 200;
      while (ready === 200 && Date.now() - signalled < 1000) {
        ready = (await fetch(`${pc.url}/auth/readyz`)).status;
      }
      expect(ready).toBe(503);
      expect(Date.now() - signalled).toBeLessThan(1000);
      // A request arriving during the drain is still served, and told not to come back here.
      const late = await fetch(`${pc.url}/slow?ms=100`);
      expect(late.status).toBe(200);
      expect(late.headers.get('connection')).toBe('close');
      await late.text();

      const [code, reason] = await wsClosed;
      expect(code).toBe(1001);
      expect(String(reason)).toBe('');
      await idle.closed;
      const answers = await Promise.all(slow);
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(JSON.parse(answer.body)).toEqual({ slow: true });
      }
      const streamed = await stream;
      expect(streamed.status).toBe(200);
      expect(streamed.body).toMatch(/chunk 5 at \d+\ndone\n$/);
      expect(await exited).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(drainMs);
      expect(pc.output()).toContain('"msg":"drained"');
    } finally {
      await pc.stop(1000);
    }
  });

  it('cuts what is still running when drain_timeout ends, and still exits 0', async () => {
    const pc = await start('1s');
    try {
      const hung = fetch(`${pc.url}/slow?ms=20000`).then(
        (r) => r.status,
        () => 'cut',
      );
      const deadline = Date.now() + 5000;
      while (!upstream.requests.some((r) => r.startsWith('GET /slow?ms=20000'))) {
        if (Date.now() > deadline) throw new Error('the slow request never reached the upstream');
        await new Promise((r) => setTimeout(r, 20));
      }
      const signalled = Date.now();
      const exited = exitOf(pc);
      pc.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const took = Date.now() - signalled;
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(3000);
      // Cut by the deadline: a 502 page when nothing had been sent yet, else a closed socket.
      expect([502, 'cut']).toContain(await hung);
      expect(pc.output()).toContain('drain timeout: closing what is left');
    } finally {
      await pc.stop(1000);
    }
  });

  it('exits at once when nothing is in flight', async () => {
    const pc = await start('15s');
    try {
      const signalled = Date.now();
      const exited = exitOf(pc);
      pc.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(2000);
    } finally {
      await pc.stop(1000);
    }
  });
});
