import type { IncomingMessage } from 'node:http';
import { PortcullisError } from '../core/errors.js';

const LIMIT = 16 * 1024;

/** Reads an `application/x-www-form-urlencoded` body of at most 16 KiB. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    req.resume();
    throw new PortcullisError(
      'bad_request',
      `content-type ${type}`,
      'This form must be sent as a normal web form.',
    );
  }
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > LIMIT) {
    req.resume();
    throw new PortcullisError('payload_too_large', `content-length ${declared}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > LIMIT) throw new PortcullisError('payload_too_large', 'body over limit');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return new URLSearchParams(text);
}
