import { badRequest } from './errors.js';

/**
 * An attribute reference: `userName`, `name.givenName`, or a schema-qualified one
 * (`urn:ietf:params:scim:schemas:core:2.0:User:userName`, RFC 7644 §3.10). Names are compared
 * case-insensitively (RFC 7643 §2.1), so they are kept lower-cased here.
 */
export interface AttrRef {
  /** Lower-cased top-level attribute, or a lower-cased extension schema URN. */
  attr: string;
  /** Lower-cased sub-attribute, if any. */
  sub?: string;
}

const CORE_PREFIXES = [
  'urn:ietf:params:scim:schemas:core:2.0:user:',
  'urn:ietf:params:scim:schemas:core:2.0:group:',
];

const NAME = /^[a-z_$][a-z0-9_$-]*$/;
/** Keys that must never be used as property names on our objects. */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

function checkName(name: string, original: string): string {
  if (!NAME.test(name) || FORBIDDEN.has(name))
    throw badRequest('invalidPath', `"${original}" is not an attribute name`);
  return name;
}

/** Parses `attr[.sub]`, stripping the core schema URN. Extension attributes keep their URN. */
export function parseAttrRef(text: string): AttrRef {
  let rest = text.toLowerCase();
  for (const prefix of CORE_PREFIXES) {
    if (rest.startsWith(prefix)) {
      rest = rest.slice(prefix.length);
      break;
    }
  }
  if (rest.startsWith('urn:')) {
    // An extension: `urn:…:User:attr[.sub]`; the attribute follows the last colon.
    const colon = rest.lastIndexOf(':');
    const tail = rest.slice(colon + 1);
    const [attr, sub, extra] = tail.split('.');
    if (extra !== undefined || !attr) throw badRequest('invalidPath', `"${text}" is not a path`);
    return {
      attr: `${rest.slice(0, colon)}:${checkName(attr, text)}`,
      sub: sub && checkName(sub, text),
    };
  }
  const [attr, sub, extra] = rest.split('.');
  if (extra !== undefined || !attr) throw badRequest('invalidPath', `"${text}" is not a path`);
  return sub === undefined
    ? { attr: checkName(attr, text) }
    : { attr: checkName(attr, text), sub: checkName(sub, text) };
}

/** Own-property lookup by lower-cased name (resource keys may arrive in any case). */
export function keyOf(object: Record<string, unknown>, lowerName: string): string | undefined {
  for (const key of Object.keys(object)) if (key.toLowerCase() === lowerName) return key;
  return undefined;
}

export function getAttr(object: Record<string, unknown>, lowerName: string): unknown {
  const key = keyOf(object, lowerName);
  return key === undefined ? undefined : object[key];
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
