import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';

/**
 * A small real upstream for exact assertions: it says what it received (headers as sent, body
 * hash), streams on demand (chunks with pauses, SSE, large deterministic bodies), misbehaves on
 * demand (slow headers, closing mid-body), and echoes WebSocket messages.
 */
export interface EchoUpstream {
  url: string;
  port: number;
  server: Server;
  /** Sockets open to it right now (HTTP and WebSocket). */
  readonly openSockets: number;
  /** `METHOD /path?query` of every request and handshake that reached it, in order. */
  readonly requests: string[];
  /** Handshake headers of the WebSocket connections it accepted, in order. */
  readonly wsHandshakes: IncomingMessage['headers'][];
  /** How many WebSocket connections are open on it right now. */
  readonly openWebSockets: number;
  close(): Promise<void>;
}

/** Deterministic bytes for large-body tests: block `i` of 64 KiB, cheap to make on both sides. */
export function patternBlock(i: number): Buffer {
  const block = Buffer.allocUnsafe(65_536);
  const seed = createHash('sha256')
    .update(`block-${i % 97}`)
    .digest();
  for (let o = 0; o < block.length; o += seed.length) seed.copy(block, o);
  block.writeUInt32BE(i, 0);
  return block;
}

/** sha256 of the first `bytes` bytes of the pattern stream. */
export function patternHash(bytes: number): string {
  const hash = createHash('sha256');
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const block = patternBlock(i);
    const part = left >= block.length ? block : block.subarray(0, left);
    hash.update(part);
    left -= part.length;
  }
  return hash.digest('hex');
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

function sendJson(res: ServerResponse, status: number, value: unknown, extra: string[] = []): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, [
    'Content-Type',
    'application/json',
    'Content-Length',
    String(body.length),
    ...extra,
  ]);
  res.end(body);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://upstream');
  const q = url.searchParams;
  switch (url.pathname) {
    case '/stream-pattern': {
      // Writes `bytes` of the pattern, honouring back-pressure; says how far it got.
      const bytes = Number(q.get('bytes'));
      res.writeHead(200, [
        'Content-Type',
        'application/octet-stream',
        'Content-Length',
        String(bytes),
      ]);
      let sent = 0;
      let i = 0;
      const pump = () => {
        while (sent < bytes) {
          const block = patternBlock(i++);
          const part = bytes - sent >= block.length ? block : block.subarray(0, bytes - sent);
          sent += part.length;
          if (!res.write(part)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('close', () => {
        sentByPath.set(q.get('tag') ?? 'pattern', sent);
      });
      pump();
      return;
    }
    case '/chunks': {
      // `n` chunks, `gap` ms apart, chunked encoding: each must reach the client on its own.
      const n = Number(q.get('n') ?? 3);
      const gap = Number(q.get('gap') ?? 200);
      res.writeHead(200, ['Content-Type', 'text/plain']);
      for (let i = 0; i < n; i++) {
        if (res.destroyed) return;
        res.write(`chunk ${i} at ${Date.now()}\n`);
        await new Promise((r) => setTimeout(r, gap));
      }
      res.end('done\n');
      return;
    }
    case '/sse': {
      const n = Number(q.get('n') ?? 3);
      const gap = Number(q.get('gap') ?? 200);
      res.writeHead(200, ['Content-Type', 'text/event-stream', 'Cache-Control', 'no-cache']);
      res.flushHeaders();
      for (let i = 0; i < n; i++) {
        await new Promise((r) => setTimeout(r, gap));
        if (res.destroyed) return;
        res.write(`id: ${i}\nevent: tick\ndata: {"i":${i},"at":${Date.now()}}\n\n`);
      }
      res.end();
      return;
    }
    case '/slow': {
      await new Promise((r) => setTimeout(r, Number(q.get('ms') ?? 1000)));
      if (!res.destroyed) sendJson(res, 200, { slow: true });
      return;
    }
    case '/close-mid-body': {
      // Promises 100 000 bytes, sends 1 000, then drops the connection.
      res.writeHead(200, ['Content-Type', 'application/octet-stream', 'Content-Length', '100000']);
      res.write(Buffer.alloc(1000, 120));
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    case '/status': {
      const status = Number(q.get('code') ?? 200);
      sendJson(res, status, { status }, ['Set-Cookie', 'a=1; Path=/', 'Set-Cookie', 'b=2; Path=/']);
      return;
    }
    case '/hop-by-hop': {
      // Connection-level fields the proxy must not pass on, and one named by Connection.
      const body = 'hop\n';
      res.writeHead(200, [
        'Content-Type',
        'text/plain',
        'Content-Length',
        String(body.length),
        'Connection',
        'keep-alive, X-Upstream-Private',
        'Keep-Alive',
        'timeout=30',
        'X-Upstream-Private',
        'secret',
        'X-Upstream-Public',
        'visible',
      ]);
      res.end(body);
      return;
    }
    default: {
      // Echo: what arrived, and a hash of the body, read as a stream.
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of req) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      const answer = {
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        headers: pairs(req.rawHeaders),
        bytes,
        sha256: hash.digest('hex'),
      };
      if (req.method === 'HEAD') {
        res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', '123']);
        res.end();
        return;
      }
      sendJson(res, 200, answer);
    }
  }
}

/** How many bytes `/stream-pattern?tag=…` had written when its response closed. */
export const sentByPath = new Map<string, number>();

export async function startEchoUpstream(): Promise<EchoUpstream> {
  const sockets = new Set<Socket>();
  const wsHandshakes: IncomingMessage['headers'][] = [];
  const requests: string[] = [];
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    requests.push(`UPGRADE ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (url.pathname === '/ws-refuse') {
      socket.end(
        'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\nupstream says no',
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      wsHandshakes.push(req.headers);
      ws.send(JSON.stringify({ hello: url.pathname, user: req.headers['remote-user'] ?? null }));
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    get openSockets() {
      return sockets.size;
    },
    requests,
    wsHandshakes,
    get openWebSockets() {
      return wss.clients.size;
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => {
        wss.close(() => resolve());
      });
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
