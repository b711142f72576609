import type { AttrRef } from './attribute-path.js';

export { type CaseExact, matches } from './filter-match.js';
export { parseFilter } from './filter-parser.js';

/** RFC 7644 §3.4.2.2 filters: the parsed form `parseFilter` returns and `matches` evaluates. */
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
