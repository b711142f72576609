import { connect } from 'node:net';

export interface RawReply {
  status: number;
  /** Header names lower-cased; repeats kept in order. */
  headers: [string, string][];
  body: string;
}

/**
 * Sends a request written out by hand on its own connection: the only way to put two `Cookie`
 * headers on one request (fetch and node:http merge or refuse what the tests need to send).
 */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: [string, string][],
  body = '',
): Promise<RawReply> {
  const url = new URL(baseUrl);
  const lines = [`${method} ${path} HTTP/1.1`];
  if (!headers.some(([name]) => name.toLowerCase() === 'host')) lines.push(`Host: ${url.host}`);
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  lines.push('Connection: close', `Content-Length: ${Buffer.byteLength(body)}`, '', body);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...headerLines] = text.slice(0, split).split('\r\n');
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers: headerLines.map((line) => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
        }),
        body: text.slice(split + 4),
      });
    });
    socket.write(lines.join('\r\n'));
  });
}

/** The first value of a header in a raw reply, or undefined. */
export function headerOf(reply: RawReply, name: string): string | undefined {
  return reply.headers.find(([n]) => n === name.toLowerCase())?.[1];
}

/**
 * `GET target` on its own connection with exactly these header lines (repeats, odd spellings
 * and raw bytes in the target included, and no Host unless given); resolves the status code,
 * 0 when the server closed without one.
 */
export function rawGetStatus(
  port: number,
  target: string,
  headers: [string, string][],
): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
    });
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.on('error', reject);
    const lines = [`GET ${target} HTTP/1.1`, 'Connection: close'];
    for (const [name, value] of headers) lines.push(`${name}: ${value}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

/** RFC 6455's sample key: any well-formed key will do for a handshake the tests write out. */
export const SAMPLE_WEBSOCKET_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A WebSocket handshake written out by hand, signed in with `session` (a cookie value). */
export function websocketHandshake(path: string, session: string, host = 'app.test'): string {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${SAMPLE_WEBSOCKET_KEY}`,
    `Cookie: portcullis_session=${session}`,
    '',
    '',
  ].join('\r\n');
}
