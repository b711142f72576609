import { type AttrRef, parseAttrRef } from './attribute-path.js';
import { badRequest } from './errors.js';
import type { CompareOp, Filter, Literal } from './filter.js';

const MAX_LENGTH = 4096;
const MAX_DEPTH = 16;
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
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
