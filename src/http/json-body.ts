import type { IncomingMessage } from 'node:http';
import { PortcullisError } from '../core/errors.js';
import { readBody } from './body.js';

export interface JsonLimits {
  /** Bytes. */
  maxBytes: number;
  /** Nesting of objects and arrays. */
  maxDepth: number;
}

/**
 * Keys that reach an object's prototype when a parsed value is later copied by assignment.
 * Refusing them at the edge keeps every consumer safe, whatever it does with the value.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Reads a JSON body (any `…json` content type) of at most `maxBytes`, refusing deep nesting and
 * prototype keys. Throws `payload_too_large` or `bad_request` (with a message for API clients).
 */
export async function readJson(req: IncomingMessage, limits: JsonLimits): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== '' && !/^application\/([a-z0-9.+-]*\+)?json$/.test(type)) {
    req.resume();
    throw new PortcullisError(
      'bad_request',
      `content-type ${type}`,
      'The body must be JSON (application/scim+json or application/json).',
    );
  }
  const text = await readBody(req, limits.maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PortcullisError('bad_request', 'json parse', 'The body is not valid JSON.');
  }
  checkShape(value, limits.maxDepth);
  return value;
}

/** Iterative, so a hostile nesting depth cannot overflow the stack here. */
function checkShape(root: unknown, maxDepth: number): void {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (value === null || typeof value !== 'object') continue;
    if (depth >= maxDepth)
      throw new PortcullisError('bad_request', 'json depth', 'The JSON is nested too deeply.');
    if (Array.isArray(value)) {
      for (const item of value) stack.push({ value: item, depth: depth + 1 });
      continue;
    }
    for (const [key, item] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key))
        throw new PortcullisError(
          'bad_request',
          `json key ${key}`,
          `The attribute name "${key}" is not allowed.`,
        );
      stack.push({ value: item, depth: depth + 1 });
    }
  }
}
