import { type AttrRef, getAttr, isObject } from './attribute-path.js';
import type { CompareOp, Filter, Literal } from './filter.js';

/** RFC 3339 date-times, the SCIM `dateTime` type (RFC 7643 §2.3.5). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** Which attributes compare case-sensitively (RFC 7643 `caseExact`); the rest ignore case. */
export type CaseExact = (ref: AttrRef) => boolean;

function elements(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** The values a reference names in a resource: several for multi-valued attributes. */
function valuesOf(
  resource: Record<string, unknown>,
  ref: AttrRef,
  where?: Filter,
  caseExact?: CaseExact,
): unknown[] {
  let items = elements(getAttr(resource, ref.attr));
  if (where)
    items = items.filter(
      (item) => isObject(item) && matches(where, item, caseExact ?? (() => false), ref.attr),
    );
  if (ref.sub) {
    const sub = ref.sub;
    return items.flatMap((item) => (isObject(item) ? elements(getAttr(item, sub)) : []));
  }
  // A complex multi-valued attribute compared directly compares its `value` (RFC 7644 §3.4.2.2).
  return items.flatMap((item) => (isObject(item) ? elements(getAttr(item, 'value')) : [item]));
}

function compare(actual: unknown, op: CompareOp, expected: Literal, exact: boolean): boolean {
  if (expected === null)
    return op === 'eq' ? actual === null : op === 'ne' ? actual !== null : false;
  if (typeof expected === 'boolean') {
    const value = typeof actual === 'string' ? actual.toLowerCase() === 'true' : actual;
    if (op === 'eq') return value === expected;
    if (op === 'ne') return value !== expected;
    return false;
  }
  if (typeof expected === 'number')
    return typeof actual === 'number' && ordered(actual, op, expected);
  if (typeof actual !== 'string') return false;
  if (
    op !== 'co' &&
    op !== 'sw' &&
    op !== 'ew' &&
    DATE_TIME.test(actual) &&
    DATE_TIME.test(expected)
  ) {
    // Instants, not spellings: "…:34.000Z" (what we render) and "…:34Z" are the same moment.
    const a = Date.parse(actual);
    const e = Date.parse(expected);
    if (!Number.isNaN(a) && !Number.isNaN(e)) return ordered(a, op, e);
  }
  const a = exact ? actual : actual.toLowerCase();
  const e = exact ? expected : expected.toLowerCase();
  if (op === 'co') return a.includes(e);
  if (op === 'sw') return a.startsWith(e);
  if (op === 'ew') return a.endsWith(e);
  return ordered(a, op, e);
}

function ordered<T extends number | string>(a: T, op: CompareOp, e: T): boolean {
  switch (op) {
    case 'eq':
      return a === e;
    case 'ne':
      return a !== e;
    case 'gt':
      return a > e;
    case 'ge':
      return a >= e;
    case 'lt':
      return a < e;
    case 'le':
      return a <= e;
    default:
      return false;
  }
}

/** RFC 7644 §3.4.2.2 `pr`: a non-empty value, or a complex value with a non-empty sub-attribute. */
function isPresent(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (Array.isArray(value)) return value.some(isPresent);
  if (isObject(value)) return Object.values(value).some(isPresent);
  return true;
}

/**
 * Evaluates a filter against a resource in its SCIM JSON form. `parent` names the multi-valued
 * attribute whose element is being tested inside `[...]`, for `caseExact` of its sub-attributes.
 */
export function matches(
  filter: Filter,
  resource: Record<string, unknown>,
  caseExact: CaseExact,
  parent?: string,
): boolean {
  switch (filter.kind) {
    case 'and':
      return (
        matches(filter.left, resource, caseExact, parent) &&
        matches(filter.right, resource, caseExact, parent)
      );
    case 'or':
      return (
        matches(filter.left, resource, caseExact, parent) ||
        matches(filter.right, resource, caseExact, parent)
      );
    case 'not':
      return !matches(filter.inner, resource, caseExact, parent);
    case 'has':
      return valuesOfElements(resource, filter.ref, filter.where, caseExact).length > 0;
    case 'present':
      // `name pr`, `addresses pr`: the complex value itself, not its (absent) `value`.
      return (
        filter.ref.sub || filter.where
          ? valuesOf(resource, filter.ref, filter.where, caseExact)
          : elements(getAttr(resource, filter.ref.attr))
      ).some(isPresent);
    case 'compare': {
      const ref = parent ? { attr: parent, sub: filter.ref.attr } : filter.ref;
      const exact = caseExact(filter.where && filter.ref.sub ? filter.ref : ref);
      const values = valuesOf(resource, filter.ref, filter.where, caseExact);
      if (filter.op === 'ne') return !values.some((v) => compare(v, 'eq', filter.value, exact));
      return values.some((v) => compare(v, filter.op, filter.value, exact));
    }
  }
}

function valuesOfElements(
  resource: Record<string, unknown>,
  ref: AttrRef,
  where: Filter,
  caseExact: CaseExact,
): unknown[] {
  return elements(getAttr(resource, ref.attr)).filter(
    (item) => isObject(item) && matches(where, item, caseExact, ref.attr),
  );
}
