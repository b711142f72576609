// Servers for bench/proxy.mjs, one per process so each gets its own event loop (and the CPU it
// is pinned to): `node bench/proxy-servers.mjs KIND [UPSTREAM_PORT]` prints its port once
// listening.
//   upstream       node:http, 1 KiB body, keep-alive; WebSocket echo (ws) on any path
//   http-proxy     http-proxy 1.18 with a keep-alive agent, ws: true
//   undici-stream  undici Pool + stream() into the response (the plain approach, BASELINE.md)
//   engine         portcullis' proxy engine (dist/proxy/engine.js) alone, no auth check
import { Agent, createServer } from 'node:http';

const kind = process.argv[2];
const upstreamPort = Number(process.argv[3] ?? 0);
const origin = `http://127.0.0.1:${upstreamPort}`;
const BODY = Buffer.alloc(1024, 'x');

function listen(server) {
  server.keepAliveTimeout = 75_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}

async function main() {
  if (kind === 'upstream') {
    const { WebSocketServer } = await import('ws');
    const server = createServer((_req, res) => {
      res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', String(BODY.length)]);
      res.end(BODY);
    });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
    listen(server);
    return;
  }
  if (kind === 'http-proxy') {
    const { default: httpProxy } = await import('http-proxy');
    const agent = new Agent({ keepAlive: true, maxSockets: 256 });
    const proxy = httpProxy.createProxyServer({ target: origin, agent, ws: true, xfwd: true });
    proxy.on('error', (_error, _req, res) => {
      if (res && 'writeHead' in res && !res.headersSent) res.writeHead(502).end();
      else res?.destroy?.();
    });
    const server = createServer((req, res) => proxy.web(req, res));
    server.on('upgrade', (req, socket, head) => proxy.ws(req, socket, head));
    listen(server);
    return;
  }
  if (kind === 'undici-stream') {
    const { Pool } = await import('undici');
    const pool = new Pool(origin, { connections: null, pipelining: 1 });
    const server = createServer((req, res) => {
      pool
        .stream(
          { method: req.method, path: req.url, headers: req.headers, body: null },
          ({ statusCode, headers }) => {
            delete headers.connection;
            delete headers['keep-alive'];
            delete headers['transfer-encoding'];
            res.writeHead(statusCode, headers);
            return res;
          },
        )
        .catch(() => {
          if (!res.headersSent) res.writeHead(502).end();
          else res.destroy();
        });
    });
    listen(server);
    return;
  }
  if (kind === 'engine') {
    const { ProxyEngine } = await import('../dist/proxy/engine.js');
    const engine = new ProxyEngine({
      origin,
      connectTimeoutMs: 10_000,
      headersTimeoutMs: 60_000,
      bodyTimeoutMs: 300_000,
    });
    const server = createServer((req, res) => {
      const headers = [];
      const raw = req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const lower = raw[i].toLowerCase();
        if (lower !== 'connection' && lower !== 'keep-alive') headers.push(raw[i], raw[i + 1]);
      }
      engine.forward(req, res, req.url, headers, false, () => {
        if (!res.headersSent) res.writeHead(502).end();
      });
    });
    listen(server);
    return;
  }
  throw new Error(`unknown kind ${kind}`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
