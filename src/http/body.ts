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
  const text = await readBody(req, LIMIT);
  return new URLSearchParams(text);
}

/**
 * Refuses a form in which any of `names` comes more than once or list-shaped (`email[]`,
 * `email[0]`, as PHP and Rails parsers read lists). `get` would take the first value and another
 * layer (a WAF, a log, a framework) may take the last or all: one field, two meanings.
 */
export function refuseRepeated(form: URLSearchParams, names: readonly string[]): void {
  for (const name of names) {
    if (form.getAll(name).length > 1) {
      throw new PortcullisError(
        'bad_request',
        `repeated form field ${name}`,
        `The form sent the field "${name}" more than once.`,
      );
    }
  }
  for (const key of form.keys()) {
    const bracket = key.indexOf('[');
    if (bracket !== -1 && names.includes(key.slice(0, bracket))) {
      throw new PortcullisError(
        'bad_request',
        `list-shaped form field ${key}`,
        `The form sent the field "${key.slice(0, bracket)}" as a list.`,
      );
    }
  }
}

/**
 * The body as UTF-8 text, refused with `payload_too_large` as soon as it is known to be over
 * `maxBytes` (declared, or while streaming); the rest is drained, not kept.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > maxBytes) {
    req.resume();
    throw new PortcullisError('payload_too_large', `content-length ${declared}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume();
      throw new PortcullisError('payload_too_large', 'body over limit');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
