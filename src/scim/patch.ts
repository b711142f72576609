import { type AttrRef, getAttr, isObject, keyOf, parseAttrRef } from './attribute-path.js';
import { badRequest } from './errors.js';
import { type CaseExact, type Filter, matches, parseFilter } from './filter.js';
import type { Json } from './resources.js';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const MAX_OPERATIONS = 1000;

/** What a resource type tells the patch engine about its attributes (lower-cased names). */
export interface PatchTarget {
  multiValued: ReadonlySet<string>;
  /** Read-only: silently skipped inside a path-less value (Okta echoes `id`), refused by path. */
  readOnly: ReadonlySet<string>;
  caseExact: CaseExact;
}

interface Operation {
  op: 'add' | 'replace' | 'remove';
  path?: string;
  value?: unknown;
}

/** A PATCH path: `attr[.sub]` or `attr[filter][.sub]` (RFC 7644 §3.5.2). */
interface PatchPath {
  ref: AttrRef;
  where?: Filter;
}

function parsePatchPath(text: string): PatchPath {
  if (text.length > 1024) throw badRequest('invalidPath', 'path is too long');
  const open = text.indexOf('[');
  if (open === -1) return { ref: parseAttrRef(text) };
  const close = text.lastIndexOf(']');
  if (close < open) throw badRequest('invalidPath', `"${text}" is not a valid path`);
  const attr = parseAttrRef(text.slice(0, open));
  if (attr.sub) throw badRequest('invalidPath', `"${text}" is not a valid path`);
  const where = parseFilter(text.slice(open + 1, close));
  const rest = text.slice(close + 1);
  if (rest === '') return { ref: attr, where };
  if (!rest.startsWith('.')) throw badRequest('invalidPath', `"${text}" is not a valid path`);
  const sub = parseAttrRef(rest.slice(1));
  if (sub.sub || sub.attr.startsWith('urn:'))
    throw badRequest('invalidPath', `"${text}" is not a valid path`);
  return { ref: { attr: attr.attr, sub: sub.attr }, where };
}

function readOperations(body: unknown): Operation[] {
  if (!isObject(body)) throw badRequest('invalidSyntax', 'the body must be a JSON object');
  const schemas = getAttr(body, 'schemas');
  if (
    schemas !== undefined &&
    !(
      Array.isArray(schemas) &&
      schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_SCHEMA.toLowerCase())
    )
  )
    throw badRequest('invalidSyntax', `schemas must include ${PATCH_SCHEMA}`);
  const operations = getAttr(body, 'operations');
  if (!Array.isArray(operations) || operations.length === 0)
    throw badRequest('invalidSyntax', 'Operations must be a non-empty list');
  if (operations.length > MAX_OPERATIONS)
    throw badRequest('tooMany', `at most ${MAX_OPERATIONS} operations per request`);
  return operations.map((raw) => {
    if (!isObject(raw)) throw badRequest('invalidSyntax', 'each operation must be an object');
    const op = getAttr(raw, 'op');
    const lower = typeof op === 'string' ? op.toLowerCase() : '';
    if (lower !== 'add' && lower !== 'replace' && lower !== 'remove')
      throw badRequest('invalidSyntax', 'op must be add, replace or remove');
    const path = getAttr(raw, 'path');
    if (path !== undefined && path !== null && typeof path !== 'string')
      throw badRequest('invalidPath', 'path must be a string');
    const operation: Operation = { op: lower };
    if (typeof path === 'string' && path.trim() !== '') operation.path = path.trim();
    const value = getAttr(raw, 'value');
    if (value !== undefined) operation.value = value;
    return operation;
  });
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** The `value` an element is identified by (members, emails), or the element itself. */
function identity(item: unknown): unknown {
  return isObject(item) ? getAttr(item, 'value') : item;
}

function isPrimary(item: unknown): boolean {
  if (!isObject(item)) return false;
  const primary = getAttr(item, 'primary');
  return primary === true || (typeof primary === 'string' && primary.toLowerCase() === 'true');
}

function setKey(object: Json, lowerName: string, value: unknown): void {
  object[keyOf(object, lowerName) ?? lowerName] = value;
}

function deleteKey(object: Json, lowerName: string): void {
  const key = keyOf(object, lowerName);
  if (key !== undefined) delete object[key];
}

function merge(target: Json, value: Json): Json {
  const out: Json = { ...target };
  for (const [key, item] of Object.entries(value)) {
    // JSON.parse keeps "__proto__" as an own key; assigning it would swap the object's prototype.
    if (key === '__proto__')
      throw badRequest('invalidValue', '"__proto__" is not an attribute name');
    setKey(out, key.toLowerCase(), item);
  }
  return out;
}

/** The literal of a simple `attr eq "v"` filter, used to create the element a path names. */
function seedOf(where: Filter): Json | null {
  if (where.kind === 'compare' && where.op === 'eq' && !where.ref.sub && !where.where)
    return { [where.ref.attr]: where.value };
  if (where.kind === 'and') {
    const left = seedOf(where.left);
    const right = seedOf(where.right);
    return left && right ? { ...left, ...right } : null;
  }
  return null;
}

function apply(
  resource: Json,
  target: PatchTarget,
  op: Operation['op'],
  path: PatchPath,
  value: unknown,
): void {
  const { ref, where } = path;
  // Extension attributes (the enterprise schema) are not kept: operations on them are no-ops.
  if (ref.attr.startsWith('urn:')) return;
  if (target.readOnly.has(ref.attr))
    throw badRequest('mutability', `${ref.attr} cannot be changed`);
  const multi = target.multiValued.has(ref.attr);
  const current = getAttr(resource, ref.attr);

  if (where) {
    if (!multi) throw badRequest('invalidPath', `${ref.attr} is not multi-valued`);
    const items = Array.isArray(current) ? [...current] : [];
    const hit = (item: unknown) =>
      isObject(item) && matches(where, item, target.caseExact, ref.attr);
    if (op === 'remove') {
      const kept = ref.sub
        ? items.map((item) => {
            if (!hit(item)) return item;
            const copy = { ...(item as Json) };
            deleteKey(copy, ref.sub as string);
            return copy;
          })
        : items.filter((item) => !hit(item));
      setKey(resource, ref.attr, kept);
      return;
    }
    if (value === undefined) throw badRequest('invalidValue', `${op} needs a value`);
    let found = false;
    const next = items.map((item) => {
      if (!hit(item)) return item;
      found = true;
      if (ref.sub) return merge(item as Json, { [ref.sub]: value });
      return isObject(value) ? merge(item as Json, value) : item;
    });
    if (!found) {
      // Entra ID adds `emails[type eq "work"].value` to users that have no such element yet.
      const seed = seedOf(where);
      if (!seed) throw badRequest('noTarget', `no ${ref.attr} element matches the path filter`);
      next.push(
        ref.sub ? { ...seed, [ref.sub]: value } : isObject(value) ? merge(seed, value) : seed,
      );
    }
    setKey(resource, ref.attr, next);
    return;
  }

  if (ref.sub) {
    const sub = ref.sub;
    if (multi) {
      const items = Array.isArray(current) ? current : [];
      setKey(
        resource,
        ref.attr,
        items.map((item) => {
          if (!isObject(item)) return item;
          const copy = { ...item };
          if (op === 'remove') deleteKey(copy, sub);
          else setKey(copy, sub, value);
          return copy;
        }),
      );
      return;
    }
    const object = isObject(current) ? { ...current } : {};
    if (op === 'remove') deleteKey(object, sub);
    else {
      if (value === undefined) throw badRequest('invalidValue', `${op} needs a value`);
      setKey(object, sub, value);
    }
    setKey(resource, ref.attr, object);
    return;
  }

  if (op === 'remove') {
    if (multi && value !== undefined && Array.isArray(current)) {
      // Entra ID: {"op":"Remove","path":"members","value":[{"value":"<id>"}]}
      const gone = new Set(asList(value).map(identity));
      setKey(
        resource,
        ref.attr,
        current.filter((item) => !gone.has(identity(item))),
      );
    } else deleteKey(resource, ref.attr);
    return;
  }
  if (value === undefined) throw badRequest('invalidValue', `${op} needs a value`);
  if (multi) {
    if (op === 'replace' || !Array.isArray(current)) {
      setKey(resource, ref.attr, value === null ? [] : asList(value));
      return;
    }
    const seen = new Set(current.map(identity));
    const added = asList(value).filter((item) => {
      const id = identity(item);
      if (id !== undefined && seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    // RFC 7644 §3.5.2.1: adding a value with `primary: true` takes `primary` from the others,
    // so the element the client just made primary is the one read back (the user's email).
    const kept = added.some(isPrimary)
      ? current.map((item) =>
          isObject(item) && isPrimary(item) ? merge(item, { primary: false }) : item,
        )
      : current;
    setKey(resource, ref.attr, [...kept, ...added]);
    return;
  }
  // A complex attribute keeps the sub-attributes the value does not name (RFC 7644 §3.5.2.1, .3).
  setKey(resource, ref.attr, isObject(value) && isObject(current) ? merge(current, value) : value);
}

/**
 * Applies a PatchOp body to a resource in SCIM form and returns the patched copy; the caller
 * reads the result back through the resource's own validation. Operations are atomic: any
 * error leaves the stored resource untouched because nothing is saved.
 */
export function applyPatch(resource: Json, body: unknown, target: PatchTarget): Json {
  const out = structuredClone(resource);
  for (const operation of readOperations(body)) {
    if (operation.path !== undefined) {
      apply(out, target, operation.op, parsePatchPath(operation.path), operation.value);
      continue;
    }
    if (operation.op === 'remove') throw badRequest('noTarget', 'remove needs a path');
    // No path: the value is a set of attributes (Okta: {"active":false}; Entra ID also sends
    // dotted keys such as "name.givenName").
    if (!isObject(operation.value))
      throw badRequest('invalidValue', `${operation.op} without a path needs an object value`);
    for (const [key, value] of Object.entries(operation.value)) {
      const path = parsePatchPath(key);
      if (target.readOnly.has(path.ref.attr)) continue;
      apply(out, target, operation.op, path, value);
    }
  }
  return out;
}
