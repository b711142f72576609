import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ScimError } from '../../src/scim/errors.js';
import { applyPatch, type PatchTarget } from '../../src/scim/patch.js';
import { type Json, userFromScim } from '../../src/scim/resources.js';
import { GROUP_PATCH, USER_PATCH } from '../../src/scim/service.js';

type Target = 'user' | 'group';
interface Case {
  name?: string;
  source?: string;
  target: Target;
  body?: unknown;
  operations?: [unknown, number];
  pathParts?: [string, number][];
  after?: Json;
  absent?: string[];
  unchanged?: boolean;
  fields?: Json;
  error?: { status: number; scimType: string };
  deliberate?: string;
}
interface Fixture {
  resources: Record<Target, Json>;
  cases: Case[];
  refused: (Case & { name: string; error: { status: number; scimType: string } })[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/scim-patches.json', import.meta.url), 'utf8'),
) as Fixture;

// The attribute rules the SCIM service gives the patch engine: the real ones, not a copy.
const TARGETS: Record<Target, PatchTarget> = { user: USER_PATCH, group: GROUP_PATCH };

function bodyOf(c: Case): unknown {
  if (c.operations) {
    const [operation, times] = c.operations;
    return { Operations: Array.from({ length: times }, () => operation) };
  }
  if (!c.pathParts) return c.body;
  const path = c.pathParts.map(([text, times]) => text.repeat(times)).join('');
  const body = structuredClone(c.body) as { Operations: Json[] };
  (body.Operations[0] as Json).path = path;
  return body;
}

/** Every object in the result still has the ordinary prototype: no `__proto__` got assigned. */
function prototypesIntact(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(prototypesIntact);
  if (typeof value !== 'object' || value === null) return true;
  return (
    Object.getPrototypeOf(value) === Object.prototype &&
    Object.values(value).every(prototypesIntact)
  );
}

function run(c: Case): { resource: Json; result: unknown } {
  const resource = structuredClone(fixture.resources[c.target]);
  let result: unknown;
  try {
    result = applyPatch(resource, bodyOf(c), TARGETS[c.target]);
  } catch (error) {
    result = error;
  }
  // Nothing is saved unless the whole body applies: the input is never touched.
  expect(resource).toEqual(fixture.resources[c.target]);
  return { resource, result };
}

const label = (c: Case) => [c.source, c.name].filter(Boolean).join(': ');

describe('SCIM PATCH applies RFC 7644, Okta and Entra ID bodies', () => {
  it('has a table worth running', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(40);
    for (const c of fixture.cases)
      expect(c.after ?? c.absent ?? c.unchanged ?? c.fields, label(c)).toBeDefined();
  });

  it.each(fixture.cases.map((c) => ({ c, label: label(c) })))('$label', ({ c }) => {
    const { resource, result } = run(c);
    if (result instanceof Error) throw result;
    const patched = result as Json;
    expect(prototypesIntact(patched)).toBe(true);
    if (c.unchanged) expect(patched).toEqual(resource);
    if (c.after) expect(patched).toMatchObject(c.after);
    for (const key of c.absent ?? []) expect(Object.keys(patched)).not.toContain(key);
    if (c.fields) expect(userFromScim(patched)).toMatchObject(c.fields);
  });
});

describe('malformed and hostile PATCH bodies are refused with a SCIM error', () => {
  it.each(fixture.refused)('$name', (c) => {
    const { result } = run(c);
    expect(result).toBeInstanceOf(ScimError);
    expect(result).toMatchObject(c.error);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    expect(({} as Json).polluted).toBeUndefined();
  });
});
