import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { startTestApp, type TestApp, writeConfig } from '../helpers/app.js';

/**
 * `server.max_header_size` (issue 11): a request over it gets 431 with the short page, or JSON
 * for an API client, and a log line naming the cause — never a bare 400 (SPEC §5).
 */

interface SizeCase {
  value: string | number;
  bytes: number;
}
interface RequestCase {
  name: string;
  mode: 'check' | 'proxy';
  limit: string | number | null;
  cookieBytes: number;
  accept: string | null;
  status: number;
  type?: string;
}
const table = JSON.parse(
  readFileSync(new URL('../fixtures/header-limits.json', import.meta.url), 'utf8'),
) as { sizes: SizeCase[]; badSizes: string[]; requests: RequestCase[] };

function cookieJar(bytes: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const part = `app_cookie_${i}=${'v'.repeat(180)}`;
    parts.push(part);
    size += part.length + 2;
  }
  return parts.join('; ');
}

interface Reply {
  status: number;
  head: string;
  body: string;
}

/** One request written by hand; a reset after the answer arrived still counts as the answer. */
function send(port: number, path: string, headers: string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (error?: Error) => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) {
        reject(error ?? new Error(`no answer: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      resolve({
        status: Number(text.slice(9, 12)),
        head: text.slice(0, split),
        body: text.slice(split + 4),
      });
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', finish);
    socket.on('end', () => finish());
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: app.example.com\r\n${headers.join('\r\n')}\r\nConnection: close\r\n\r\n`,
    );
  });
}

describe('server.max_header_size parses sizes', () => {
  const parse = (value: unknown) =>
    loadConfig({ path: writeConfig({ server: { max_header_size: value } }), env: {} });
  it.each(table.sizes)('$value is $bytes bytes', ({ value, bytes }) => {
    expect(parse(value).raw.server.max_header_size).toBe(bytes);
  });
  it.each(table.badSizes)('%j is a config error', (value) => {
    expect(() => parse(value)).toThrow(/max_header_size/);
  });
  it('defaults to 64kb', () => {
    expect(loadConfig({ path: writeConfig({}), env: {} }).raw.server.max_header_size).toBe(65536);
  });
});

describe('requests over server.max_header_size get 431 with a page or JSON', () => {
  // An app that takes big cookie jars itself (Node's own default stops at 16 KB).
  let upstream: Server;
  let upstreamUrl = '';
  const cookieSeen: number[] = [];
  const apps = new Map<string, TestApp>();

  beforeAll(async () => {
    upstream = createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
      cookieSeen.push(req.headers.cookie?.length ?? 0);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
      res.end('ok\n');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const app of apps.values()) await app.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  async function appFor(mode: 'check' | 'proxy', limit: string | number | null): Promise<TestApp> {
    const key = `${mode}:${String(limit)}`;
    let app = apps.get(key);
    if (!app) {
      app = await startTestApp({
        ...(limit === null ? {} : { server: { max_header_size: limit } }),
        ...(mode === 'proxy'
          ? { proxy: { upstream: upstreamUrl }, access: { default_policy: 'bypass' } }
          : {}),
      });
      apps.set(key, app);
    }
    return app;
  }

  it.each(table.requests)('$name → $status', async (c) => {
    const app = await appFor(c.mode, c.limit);
    const warn = vi.spyOn(app.ctx.logger, 'warn');
    // Accept after the cookies: the overflowing part is all the server still has to look at.
    const headers = [`Cookie: ${cookieJar(c.cookieBytes)}`];
    if (c.accept) headers.push(`Accept: ${c.accept}`);
    const port = Number(new URL(app.url).port);
    const reply = await send(port, c.mode === 'proxy' ? '/page' : '/auth/healthz', headers);
    expect(reply.status).toBe(c.status);
    if (c.status === 431) {
      expect(reply.head).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
      expect(reply.head.toLowerCase()).toContain(`content-type: ${c.type}`);
      expect(reply.head.toLowerCase()).toContain('connection: close');
      expect(reply.body.length).toBeGreaterThan(0);
      if (c.type === 'application/json') {
        expect(JSON.parse(reply.body)).toMatchObject({ error: 'headers_too_large' });
      } else {
        expect(reply.body).toContain('<h1>Request too large</h1>');
        expect(reply.body).toContain('cookies');
      }
      const logged = warn.mock.calls.map((call) => String(call[1]));
      expect(logged.some((msg) => msg.startsWith('request headers too large'))).toBe(true);
    } else {
      expect(warn).not.toHaveBeenCalled();
      if (c.mode === 'proxy') expect(cookieSeen.at(-1)).toBeGreaterThanOrEqual(c.cookieBytes);
    }
    warn.mockRestore();
  });

  it.each(['check', 'proxy'] as const)(
    '%s: more than 1 000 header fields → 431, not silently cut to 1 000',
    async (mode) => {
      const app = await appFor(mode, null);
      const port = Number(new URL(app.url).port);
      const many = Array.from({ length: 1500 }, (_, i) => `X-F${i}: v`);
      const reply = await send(port, mode === 'proxy' ? '/page' : '/auth/healthz', [
        'Accept: application/json',
        ...many,
      ]);
      expect(reply.status).toBe(431);
      expect(JSON.parse(reply.body)).toMatchObject({ error: 'headers_too_large' });
      const fine = await send(
        port,
        mode === 'proxy' ? '/page' : '/auth/healthz',
        many.slice(0, 900),
      );
      expect(fine.status).toBe(200);
    },
  );
});
