import { type AttrRef, getAttr, isObject, parseAttrRef } from './attribute-path.js';
import { badRequest } from './errors.js';

/** RFC 7644 §3.4.2.2 filters. */
export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type Literal = string | number | boolean | null;

export type Filter =
  | { kind: 'and' | 'or'; left: Filter; right: Filter }
  | { kind: 'not'; inner: Filter }
  /** `attr[.sub] op value`, or with `where`: `attr[where].sub op value` (valuePath). */
  | { kind: 'compare'; ref: AttrRef; op: CompareOp; value: Literal; where?: Filter }
  | { kind: 'present'; ref: AttrRef; where?: Filter }
  /** `attr[where]` alone: some element of `attr` matches `where`. */
  | { kind: 'has'; ref: AttrRef; where: Filter };

const MAX_LENGTH = 4096;
const MAX_DEPTH = 16;
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
/** RFC 3339 date-times, the SCIM `dateTime` type (RFC 7643 §2.3.5). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;
const OPS = new Set<string>(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);

type Token =
  | { t: 'word'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: '(' | ')' | '[' | ']' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i += 1;
    } else if (c === '(' || c === ')' || c === '[' || c === ']') {
      tokens.push({ t: c });
      i += 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw invalid('unterminated string');
      let value: unknown;
      try {
        value = JSON.parse(text.slice(i, j + 1));
      } catch {
        throw invalid('malformed string');
      }
      tokens.push({ t: 'str', v: value as string });
      i = j + 1;
    } else {
      const match = /^[A-Za-z0-9_$.:+-]+/.exec(text.slice(i));
      if (!match) throw invalid(`unexpected character "${c}"`);
      const word = match[0];
      if (/^-?\d/.test(word)) {
        // JSON's number grammar (RFC 7644 §3.4.2.2): `Number()` alone would also take 0x10, 0b1.
        const n = JSON_NUMBER.test(word) ? Number(word) : Number.NaN;
        if (!Number.isFinite(n)) throw invalid(`bad number "${word}"`);
        tokens.push({ t: 'num', v: n });
      } else tokens.push({ t: 'word', v: word });
      i += word.length;
    }
  }
  return tokens;
}

const invalid = (detail: string) => badRequest('invalidFilter', `Invalid filter: ${detail}`);

class Parser {
  private at = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token | undefined {
    return this.tokens[this.at];
  }

  private keyword(word: string): boolean {
    const token = this.peek();
    if (token?.t === 'word' && token.v.toLowerCase() === word) {
      this.at += 1;
      return true;
    }
    return false;
  }

  private expect(t: '(' | ')' | '[' | ']'): void {
    if (this.peek()?.t !== t) throw invalid(`expected "${t}"`);
    this.at += 1;
  }

  parse(): Filter {
    const filter = this.or(0);
    if (this.at !== this.tokens.length) throw invalid('unexpected text after the expression');
    return filter;
  }

  private or(depth: number): Filter {
    if (depth > MAX_DEPTH) throw invalid('nested too deeply');
    let left = this.and(depth);
    while (this.keyword('or')) left = { kind: 'or', left, right: this.and(depth) };
    return left;
  }

  private and(depth: number): Filter {
    let left = this.unary(depth);
    while (this.keyword('and')) left = { kind: 'and', left, right: this.unary(depth) };
    return left;
  }

  private unary(depth: number): Filter {
    if (this.keyword('not')) {
      this.expect('(');
      const inner = this.or(depth + 1);
      this.expect(')');
      return { kind: 'not', inner };
    }
    if (this.peek()?.t === '(') {
      this.at += 1;
      const inner = this.or(depth + 1);
      this.expect(')');
      return inner;
    }
    return this.comparison(depth);
  }

  private comparison(depth: number): Filter {
    const token = this.peek();
    if (token?.t !== 'word') throw invalid('expected an attribute name');
    this.at += 1;
    let ref = parseAttrRefForFilter(token.v);
    let where: Filter | undefined;
    if (this.peek()?.t === '[') {
      if (ref.sub) throw invalid('a sub-attribute cannot have a [filter]');
      this.at += 1;
      where = this.or(depth + 1);
      this.expect(']');
      const next = this.peek();
      if (next?.t === 'word' && next.v.startsWith('.')) {
        // `emails[type eq "work"].value eq "…"`: tokenized as one word ".value".
        this.at += 1;
        ref = { attr: ref.attr, sub: parseAttrRefForFilter(next.v.slice(1)).attr };
      } else {
        return { kind: 'has', ref, where };
      }
    }
    const opToken = this.peek();
    if (opToken?.t !== 'word') throw invalid('expected an operator');
    const op = opToken.v.toLowerCase();
    this.at += 1;
    if (op === 'pr') return where ? { kind: 'present', ref, where } : { kind: 'present', ref };
    if (!OPS.has(op)) throw invalid(`unknown operator "${opToken.v}"`);
    const valueToken = this.peek();
    let value: Literal;
    if (valueToken?.t === 'str' || valueToken?.t === 'num') value = valueToken.v;
    else if (valueToken?.t === 'word' && /^(true|false|null)$/i.test(valueToken.v))
      value = valueToken.v.toLowerCase() === 'null' ? null : valueToken.v.toLowerCase() === 'true';
    else throw invalid(`expected a value after "${op}"`);
    this.at += 1;
    const node: Filter = { kind: 'compare', ref, op: op as CompareOp, value };
    return where ? { ...node, where } : node;
  }
}

function parseAttrRefForFilter(text: string): AttrRef {
  try {
    return parseAttrRef(text);
  } catch {
    throw invalid(`"${text}" is not an attribute path`);
  }
}

/** Parses a filter; throws a SCIM 400 `invalidFilter` for anything malformed or too large. */
export function parseFilter(text: string): Filter {
  if (text.length > MAX_LENGTH) throw invalid('too long');
  const tokens = tokenize(text);
  if (tokens.length === 0) throw invalid('empty');
  return new Parser(tokens).parse();
}

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
