import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { startTestApp, type TestApp, writeConfig } from '../helpers/app.js';
import { waitFor } from '../helpers/ports.js';

/**
 * Timeouts everywhere a client can hold resources (issue 11, item 4 and finding 6): slow
 * headers, stalled or trickled bodies and idle keep-alives are cut at the configured bound, a
 * refused request's body is not read on, and past `server.max_connections` new connections are
 * closed at once. Everything runs on loopback with bounds of a few hundred ms.
 */

interface SettingCase {
  key: string;
  value: unknown;
  parsed?: number;
}
interface TrickleCase {
  name: string;
  mode: 'check' | 'proxy';
  method: string;
  path: string;
  status: number;
  host?: string;
  accept?: string;
  contentType?: string;
  length?: number;
  signedIn?: boolean;
  headers?: [string, string][];
  /** The answer itself says `Connection: close` (the checks answer first and close after). */
  saysClose?: boolean;
}
const table = JSON.parse(
  readFileSync(new URL('../fixtures/client-timeouts.json', import.meta.url), 'utf8'),
) as {
  settings: { good: SettingCase[]; bad: SettingCase[] };
  refusedWhileTrickling: TrickleCase[];
};

const SHORT = 300;

function portOf(app: TestApp): number {
  return Number(new URL(app.url).port);
}

function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

interface Watched {
  socket: Socket;
  /** Everything the server sent. */
  text(): string;
  status(): number | null;
  /** ms from the start until the first byte of the answer, or null. */
  answeredAt: number | null;
  /** ms from the start until the server closed its side (FIN or reset), or null. */
  closedAt: number | null;
  /** Resolves once the server has closed, or after `giveUpMs` (then `closedAt` stays null). */
  done: Promise<void>;
}

/** A raw connection that records when the answer came and when the server hung up. */
function watch(port: number, giveUpMs: number, onOpen: (socket: Socket) => void): Watched {
  const started = Date.now();
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let settle: () => void = () => {};
  const watched: Watched = {
    socket,
    text: () => Buffer.concat(chunks).toString('latin1'),
    status() {
      const match = /^HTTP\/1\.1 (\d{3})/.exec(this.text());
      return match ? Number(match[1]) : null;
    },
    answeredAt: null,
    closedAt: null,
    done: new Promise<void>((resolve) => {
      settle = resolve;
    }),
  };
  const giveUp = setTimeout(() => {
    socket.destroy();
    settle();
  }, giveUpMs);
  const closed = () => {
    watched.closedAt ??= Date.now() - started;
    clearTimeout(giveUp);
    socket.destroy();
    settle();
  };
  socket.on('data', (chunk: Buffer) => {
    watched.answeredAt ??= Date.now() - started;
    chunks.push(chunk);
  });
  socket.on('end', closed);
  socket.on('error', closed);
  socket.on('close', closed);
  socket.on('connect', () => onOpen(socket));
  return watched;
}

/** Writes `head`, then one body byte every `everyMs` until the server hangs up. */
function trickle(port: number, head: string, everyMs: number, giveUpMs: number): Watched {
  let timer: NodeJS.Timeout | undefined;
  const watched = watch(port, giveUpMs, (socket) => {
    socket.write(head);
    timer = setInterval(() => {
      if (socket.writable) socket.write('a');
    }, everyMs);
  });
  void watched.done.then(() => clearInterval(timer));
  return watched;
}

function healthz(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = watch(port, 2000, (socket) =>
      socket.write('GET /auth/healthz HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'),
    );
    void w.done.then(() => {
      const status = w.status();
      if (status === null) reject(new Error('healthz: no answer'));
      else resolve(status);
    });
  });
}

describe('server timeouts and max_connections are config', () => {
  const parse = (key: string, value: unknown) =>
    loadConfig({ path: writeConfig({ server: { [key]: value } }), env: {} }).raw.server;

  it.each(table.settings.good)('server.$key: $value → $parsed', ({ key, value, parsed }) => {
    expect((parse(key, value) as unknown as Record<string, number>)[key]).toBe(parsed);
  });
  it.each(table.settings.bad)('server.$key: $value is a config error', ({ key, value }) => {
    expect(() => parse(key, value)).toThrow(new RegExp(key));
  });
  it('defaults: 10s headers, 30s body silence, 75s keep-alive, 10 000 connections', () => {
    const server = loadConfig({ path: writeConfig({}), env: {} }).raw.server;
    expect(server).toMatchObject({
      header_timeout: 10_000,
      body_timeout: 30_000,
      keepalive_timeout: 75_000,
      max_connections: 10_000,
    });
  });
});

describe('slow clients are cut at the configured bounds', () => {
  let upstream: Server;
  let upstreamUrl = '';
  /** For each upstream request: whether its body arrived whole before it closed. */
  const uploads: { complete: boolean; bytes: number }[] = [];
  const apps: Record<'check' | 'proxy', TestApp | null> = { check: null, proxy: null };
  let cookie = '';

  const limits = {
    header_timeout: `${SHORT}ms`,
    body_timeout: `${SHORT}ms`,
    keepalive_timeout: `${SHORT}ms`,
  };

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      const upload = { complete: false, bytes: 0 };
      uploads.push(upload);
      req.on('data', (chunk: Buffer) => {
        upload.bytes += chunk.length;
      });
      req.on('close', () => {
        upload.complete = req.complete;
      });
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    apps.check = await startTestApp({ server: limits });
    apps.proxy = await startTestApp(
      {
        server: limits,
        proxy: { upstream: upstreamUrl, body_timeout: `${SHORT}ms` },
        scim: { enabled: true },
        access: { rules: [{ host: 'denied.test', policy: 'deny' }] },
      },
      { env: { SCIM_BEARER_TOKEN: 's'.repeat(40) } },
    );
    cookie = await apps.proxy.login('slow@example.com');
  });
  afterAll(async () => {
    await apps.check?.close();
    await apps.proxy?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it.each(['check', 'proxy'] as const)(
    '%s: headers sent slowly get 408 and a close within ~header_timeout',
    async (mode) => {
      const app = apps[mode] as TestApp;
      let timer: NodeJS.Timeout | undefined;
      const w = watch(portOf(app), 5000, (socket) => {
        socket.write('GET /auth/healthz HTTP/1.1\r\nHost: app.test\r\n');
        timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 50);
      });
      await w.done;
      clearInterval(timer);
      expect(w.status()).toBe(408);
      expect(w.closedAt).not.toBeNull();
      expect(w.closedAt as number).toBeGreaterThanOrEqual(SHORT - 20);
      expect(w.closedAt as number).toBeLessThan(SHORT + 1200);
    },
  );

  it('a connection that never sends a byte is closed within ~header_timeout', async () => {
    const w = watch(portOf(apps.check as TestApp), 5000, () => {});
    await w.done;
    expect(w.closedAt).not.toBeNull();
    expect(w.closedAt as number).toBeLessThan(SHORT + 1200);
  });

  it('an idle keep-alive connection is closed after keepalive_timeout (+ Node’s 1 s grace)', async () => {
    const w = watch(portOf(apps.check as TestApp), 6000, (socket) =>
      socket.write('GET /auth/healthz HTTP/1.1\r\nHost: app.test\r\n\r\n'),
    );
    await w.done;
    expect(w.status()).toBe(200);
    expect(w.text().toLowerCase()).not.toContain('connection: close');
    const idle = (w.closedAt as number) - (w.answeredAt as number);
    expect(idle).toBeGreaterThanOrEqual(SHORT - 20);
    expect(idle).toBeLessThan(SHORT + 1000 + 1200);
  });

  it.each(table.refusedWhileTrickling)(
    '$name: $status, then the trickled body is not read on',
    async (c) => {
      const app = apps[c.mode] as TestApp;
      const lines = [
        `${c.method} ${c.path} HTTP/1.1`,
        `Host: ${c.host ?? 'app.test'}`,
        `Accept: ${c.accept ?? 'application/json'}`,
        `Content-Type: ${c.contentType ?? 'application/octet-stream'}`,
        `Content-Length: ${c.length ?? 1_000_000}`,
      ];
      if (c.signedIn) lines.push(`Cookie: portcullis_session=${cookie}`);
      for (const [name, value] of c.headers ?? []) lines.push(`${name}: ${value}`);
      const w = trickle(portOf(app), `${lines.join('\r\n')}\r\n\r\nfirst bytes`, 50, 4000);
      await w.done;
      expect(w.status()).toBe(c.status);
      if (c.saysClose) expect(w.text().toLowerCase()).toContain('\r\nconnection: close\r\n');
      // Closed right after the answer, not when the client gives up (4 s): without the fix the
      // trickle (a byte every 50 ms, never a silence) would be read for as long as it lasts.
      expect(w.closedAt).not.toBeNull();
      expect((w.closedAt as number) - (w.answeredAt as number)).toBeLessThan(1000);
    },
  );

  it('proxy: 300 clients trickling bodies without a session are answered and let go', async () => {
    const app = apps.proxy as TestApp;
    const head =
      'POST /upload HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\nContent-Length: 1000000\r\n\r\n';
    const clients = Array.from({ length: 300 }, () => trickle(portOf(app), head, 100, 6000));
    await waitFor(() => clients.every((c) => c.answeredAt !== null), 4000, 'every answer');
    expect(clients.every((c) => c.status() === 401)).toBe(true);
    // Every socket is freed on the server while the clients would still be sending.
    await waitFor(async () => (await connections(app.server)) === 0, 2000, 'sockets freed');
    expect(await healthz(portOf(app))).toBe(200);
    await Promise.all(clients.map((c) => c.done));
    expect(clients.every((c) => c.closedAt !== null && c.closedAt < 4000)).toBe(true);
  });

  it('check: a form body that stalls past body_timeout gets 408 and a close', async () => {
    const app = apps.check as TestApp;
    const w = watch(portOf(app), 5000, (socket) =>
      socket.write(
        'POST /auth/logout HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ncsrf=abc',
      ),
    );
    await w.done;
    expect(w.status()).toBe(408);
    expect(w.text().toLowerCase()).toContain('connection: close');
    expect(w.text()).toContain('"error":"request_timeout"');
    expect(w.answeredAt as number).toBeGreaterThanOrEqual(SHORT - 20);
    expect(w.answeredAt as number).toBeLessThan(SHORT + 1500);
    expect(w.closedAt).not.toBeNull();
  });

  it('proxy: a signed-in upload that stalls past proxy.body_timeout is cut, upstream sees it aborted', async () => {
    const app = apps.proxy as TestApp;
    const before = uploads.length;
    const w = watch(portOf(app), 5000, (socket) =>
      socket.write(
        `POST /upload HTTP/1.1\r\nHost: app.test\r\nCookie: portcullis_session=${cookie}\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`,
      ),
    );
    await w.done;
    expect(w.closedAt).not.toBeNull();
    expect(w.closedAt as number).toBeGreaterThanOrEqual(SHORT - 20);
    expect(w.closedAt as number).toBeLessThan(SHORT + 1500);
    const status = w.status();
    expect(status === null || status === 408).toBe(true);
    await waitFor(() => uploads.length > before, 2000, 'the upload upstream');
    const upload = uploads[before] as { complete: boolean; bytes: number };
    await waitFor(() => upload.bytes > 0 && !upload.complete, 2000, 'the aborted upload');
    expect(upload.bytes).toBeLessThan(100_000);
  });
});

describe('server.max_connections', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ server: { max_connections: 50 } });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('200 sockets against a cap of 50: the rest are closed at once, healthz answers after', async () => {
    const port = portOf(app);
    const warn = vi.spyOn(app.ctx.logger, 'warn');
    const held = Array.from({ length: 200 }, () => watch(port, 8000, () => {}));
    // Those past the cap are closed by the server straight away; the others stay open.
    await waitFor(() => held.filter((w) => w.closedAt !== null).length >= 150, 3000, 'drops');
    expect(await connections(app.server)).toBeLessThanOrEqual(50);
    await expect(healthz(port)).rejects.toThrow(/no answer/);
    // Said once, not once per dropped connection.
    const said = warn.mock.calls.filter((call) => String(call[1]).startsWith('connection limit'));
    expect(said).toHaveLength(1);
    warn.mockRestore();
    for (const w of held) w.socket.destroy();
    await waitFor(async () => (await healthz(port)) === 200, 3000, 'healthz after the flood');
  });
});
