import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ScimError } from '../../src/scim/errors.js';
import { matches, parseFilter } from '../../src/scim/filter.js';
import { isCaseExact, type Json } from '../../src/scim/resources.js';

/** A filter as the fixture writes it: literal text, or [text, times] pairs for large inputs. */
interface Spelled {
  filter?: string;
  parts?: [string, number][];
}
interface MatchCase extends Spelled {
  source?: string;
  name?: string;
  match: string[];
  note?: string;
  deliberate?: string;
}
interface Fixture {
  resources: Record<string, Json>;
  cases: (MatchCase & { filter: string })[];
  refused: (Spelled & { name: string })[];
  accepted: (MatchCase & { name: string })[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/scim-filters.json', import.meta.url), 'utf8'),
) as Fixture;
const names = Object.keys(fixture.resources);

function textOf(spelled: Spelled): string {
  if (spelled.filter !== undefined) return spelled.filter;
  return (spelled.parts ?? []).map(([text, times]) => text.repeat(times)).join('');
}

/** The names of the fixture resources a filter selects, in fixture order. */
function selected(text: string): string[] {
  const filter = parseFilter(text);
  return names.filter((name) => matches(filter, fixture.resources[name] as Json, isCaseExact));
}

function refusal(text: string): unknown {
  try {
    parseFilter(text);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('SCIM filters select exactly the resources they name', () => {
  it('has a table worth running', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(50);
    for (const c of [...fixture.cases, ...fixture.accepted])
      for (const name of c.match) expect(names).toContain(name);
  });

  it.each(fixture.cases)('$source: $filter', ({ filter, match }) => {
    expect(selected(filter)).toEqual(names.filter((name) => match.includes(name)));
  });
});

describe('hostile filters are refused with a SCIM 400 invalidFilter', () => {
  it.each(fixture.refused)('$name', (spelled) => {
    const error = refusal(textOf(spelled));
    expect(error).toBeInstanceOf(ScimError);
    expect(error).toMatchObject({ status: 400, scimType: 'invalidFilter' });
    // The detail is shown to the client: it names the problem, never echoes a megabyte back.
    expect((error as ScimError).detail.length).toBeLessThan(200);
  });

  it('refuses a megabyte of input quickly', () => {
    const started = performance.now();
    refusal('('.repeat(1 << 20));
    refusal(`userName eq "${'\\'.repeat(1 << 20)}`);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('filters at the limits still work', () => {
  it.each(fixture.accepted)('$name', (spelled) => {
    expect(selected(textOf(spelled))).toEqual(names.filter((name) => spelled.match.includes(name)));
  });
});

describe('evaluation never throws on odd resource shapes', () => {
  const odd: Json[] = [
    {},
    { emails: 'not-a-list' },
    { emails: [null, 1, 'x', [], { value: null }] },
    { name: null },
    { name: ['a'] },
    { meta: { lastModified: 12 } },
    { userName: { value: 'x' } },
    { members: [{ value: 1 }] },
  ];
  const filters = fixture.cases.map((c) => parseFilter(c.filter));
  it.each(odd.map((resource) => ({ resource, shape: JSON.stringify(resource) })))(
    '$shape',
    ({ resource }) => {
      for (const filter of filters)
        expect(typeof matches(filter, resource, isCaseExact)).toBe('boolean');
    },
  );
});
