import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the protected app saw: the request exactly as the proxy delivered it. */
export interface EchoedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Name/value pairs as received, so duplicates and odd spellings stay visible. */
  rawHeaders: string[];
}

export interface EchoUpstream {
  port: number;
  url: string;
  /** Every request received so far, oldest first. */
  requests: EchoedRequest[];
  close(): Promise<void>;
}

/** A stand-in for the protected app: answers 200 with JSON echoing the request it received. */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const requests: EchoedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const echoed: EchoedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
    };
    requests.push(echoed);
    req.resume();
    req.on('end', () => {
      const body = Buffer.from(JSON.stringify(echoed));
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(body.length),
        'x-echo-upstream': '1',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Every value the upstream received under `name`, compared case-insensitively on the exact name. */
export function rawValues(echoed: EchoedRequest, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < echoed.rawHeaders.length; i += 2) {
    if ((echoed.rawHeaders[i] as string).toLowerCase() === name.toLowerCase()) {
      out.push(echoed.rawHeaders[i + 1] as string);
    }
  }
  return out;
}
