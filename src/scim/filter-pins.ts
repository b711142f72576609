import { normalizeEmail } from '../core/email.js';
import type { Filter } from './filter.js';

/** An email a filter pins the user to (`userName eq`, `emails[…].value eq`), for a direct lookup. */
export function pinnedEmail(filter: Filter): string | null {
  if (filter.kind === 'and') return pinnedEmail(filter.left) ?? pinnedEmail(filter.right);
  if (filter.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string')
    return null;
  const { attr, sub } = filter.ref;
  if (
    (attr === 'username' && !sub && !filter.where) ||
    (attr === 'emails' && (sub ?? 'value') === 'value')
  )
    return normalizeEmail(filter.value);
  return null;
}

/** The value an `attr eq "…"` clause (possibly inside `and`s) pins a lookup to, or null. */
export function pinnedValue(filter: Filter, attr: string): string | null {
  if (filter.kind === 'and')
    return pinnedValue(filter.left, attr) ?? pinnedValue(filter.right, attr);
  if (
    filter.kind === 'compare' &&
    filter.op === 'eq' &&
    filter.ref.attr === attr &&
    !filter.ref.sub &&
    typeof filter.value === 'string'
  )
    return filter.value;
  return null;
}
