import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readCookie } from '../../src/core/cookies.js';

interface Table {
  name: string;
  cases: { why: string; header: string; expect: string | null }[];
}

const table = JSON.parse(
  readFileSync(new URL('../fixtures/cookie-headers.json', import.meta.url), 'utf8'),
) as Table;

describe('readCookie', () => {
  it.each(table.cases)('$why: $header', ({ header, expect: wanted }) => {
    expect(readCookie(header, table.name)).toBe(wanted ?? undefined);
  });

  it('reads nothing from an absent header or for an empty name', () => {
    expect(readCookie(undefined, table.name)).toBeUndefined();
    expect(readCookie('=A', '')).toBeUndefined();
  });
});
