import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type AccessPolicy, decide, type Policy } from '../../src/core/decide.js';
import { compileEmailGlob } from '../../src/core/glob.js';
import type { Identity } from '../../src/core/identity.js';
import { parseAbsoluteTarget } from '../../src/core/target.js';

interface Case {
  name: string;
  policy: Policy;
  constraint: { groups?: string[]; emails?: string[]; domains?: string[] } | null;
  identity: { email: string; groups: string[] } | null;
  expect: [string, string];
}

const { cases } = JSON.parse(
  readFileSync(new URL('../fixtures/oauth2-allowed.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

const anonymousUser: Identity = {
  id: 'anonymous',
  username: 'anonymous',
  email: 'anonymous@localhost',
  name: 'Anonymous',
  groups: [],
  anonymous: true,
};

const parsed = parseAbsoluteTarget('https://app.example.com/dashboard', 'GET');
if (!parsed.ok) throw new Error(parsed.reason);
const target = parsed.target;

describe("decide: oauth2-proxy's allowed_* as a constraint beside the rules", () => {
  for (const c of cases) {
    it(c.name, () => {
      const policy: AccessPolicy = { defaultPolicy: c.policy, rules: [], anonymousMode: false };
      const identity: Identity | null = c.identity && {
        id: c.identity.email,
        username: c.identity.email,
        email: c.identity.email,
        name: c.identity.email,
        groups: c.identity.groups,
        anonymous: false,
      };
      const constraint = c.constraint && {
        groups: c.constraint.groups ?? null,
        emails: c.constraint.emails?.map(compileEmailGlob) ?? null,
        domains: c.constraint.domains ?? null,
        reason: 'oauth2 allowed_* parameters',
      };
      const decision = decide(policy, target, identity, anonymousUser, constraint);
      expect([decision.kind, decision.reason]).toEqual(c.expect);
    });
  }

  it('never refuses the anonymous user of anonymous mode', () => {
    const policy: AccessPolicy = { defaultPolicy: 'deny', rules: [], anonymousMode: true };
    const constraint = { groups: ['ops'], emails: null, domains: null, reason: 'x' };
    expect(decide(policy, target, null, anonymousUser, constraint).kind).toBe('allow');
  });
});
