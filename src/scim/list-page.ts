import { MAX_RESULTS } from './discovery.js';
import { badRequest } from './errors.js';

/** `filter`, `startIndex` and `count` of a list request, as sent (RFC 7644 §3.4.2). */
export interface ListQuery {
  filter: string | null;
  startIndex: string | null;
  count: string | null;
}

const DEFAULT_COUNT = 100;

function integer(raw: string | null, name: string): number | null {
  if (raw === null || raw.trim() === '') return null;
  if (!/^-?\d{1,9}$/.test(raw.trim()))
    throw badRequest('invalidValue', `${name} must be an integer`);
  return Number(raw);
}

/** The 1-based `startIndex` and the `count` a list answers with (RFC 7644 §3.4.2.4). */
export function listPage(query: ListQuery): { start: number; count: number } {
  const start = Math.max(1, integer(query.startIndex, 'startindex') ?? 1);
  const count = Math.min(MAX_RESULTS, Math.max(0, integer(query.count, 'count') ?? DEFAULT_COUNT));
  return { start, count };
}
