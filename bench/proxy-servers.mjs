// Servers for bench/proxy.mjs, one per process so each gets its own event loop (and the CPU it
// is pinned to): `node bench/proxy-servers.mjs KIND [UPSTREAM_PORT]` prints its port once
// listening.
//   upstream       node:http, 1 KiB body, keep-alive; WebSocket echo (ws) on any path
//   http-proxy     http-proxy 1.18 with a keep-alive agent, ws: true
//   undici-stream  undici Pool + stream() into the response (the plain approach, BASELINE.md)
//   engine         portcullis' proxy engine (dist/proxy/engine.js) alone, no auth check
// Ceilings (BENCH_CEILING=1), to show what any Node design could reach here — not proxies:
//   tcp-relay      each client connection piped to its own upstream connection; parses nothing
//   llhttp-both    net sockets on both sides, requests and responses parsed by Node's internal
//                  llhttp binding (`_http_common`), heads rewritten by string concatenation.
//                  No auth, no timeouts, no error handling, GET with Content-Length only: the
//                  least an HTTP-aware proxy must do, without Node's HTTP server.
import { Agent, createServer } from 'node:http';
import { createRequire } from 'node:module';
import { connect, createServer as createNetServer } from 'node:net';

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
  if (kind === 'tcp-relay') {
    const server = createNetServer((client) => {
      const upstream = connect(upstreamPort, '127.0.0.1');
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    listen(server);
    return;
  }
  if (kind === 'llhttp-both') {
    const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common');
    const { kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete } = HTTPParser;
    const hopByHop = new Set(['connection', 'keep-alive']);
    const server = createNetServer((client) => {
      const upstream = connect(upstreamPort, '127.0.0.1');
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      const requests = new HTTPParser();
      requests.initialize(HTTPParser.REQUEST, {}, 16 * 1024, 0);
      const responses = new HTTPParser();
      responses.initialize(HTTPParser.RESPONSE, {}, 64 * 1024, 0);
      let head = '';
      requests[kOnHeaders] = () => {};
      requests[kOnHeadersComplete] = (_major, _minor, headers, method, url) => {
        let out = `${methods[method]} ${url} HTTP/1.1\r\n`;
        for (let i = 0; i < headers.length; i += 2) {
          if (!hopByHop.has(headers[i].toLowerCase()))
            out += `${headers[i]}: ${headers[i + 1]}\r\n`;
        }
        upstream.write(`${out}X-Forwarded-For: 127.0.0.1\r\n\r\n`, 'latin1');
      };
      requests[kOnBody] = (chunk) => upstream.write(chunk);
      requests[kOnMessageComplete] = () => {};
      responses[kOnHeaders] = () => {};
      responses[kOnHeadersComplete] = (_major, _minor, headers, _m, _u, status, reason) => {
        head = `HTTP/1.1 ${status} ${reason}\r\n`;
        for (let i = 0; i < headers.length; i += 2) {
          if (!hopByHop.has(headers[i].toLowerCase()))
            head += `${headers[i]}: ${headers[i + 1]}\r\n`;
        }
        head += '\r\n';
      };
      responses[kOnBody] = (chunk) => {
        if (head === '') client.write(chunk);
        else {
          client.write(head + chunk.latin1Slice(0, chunk.length), 'latin1');
          head = '';
        }
      };
      responses[kOnMessageComplete] = () => {
        if (head !== '') client.write(head, 'latin1');
        head = '';
      };
      client.on('data', (data) => requests.execute(data));
      upstream.on('data', (data) => responses.execute(data));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
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
