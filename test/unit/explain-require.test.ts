import { describe, expect, it } from 'vitest';
import type { AccessPolicy } from '../../src/core/decide.js';
import { explain } from '../../src/core/explain.js';
import { formatExplanation } from '../../src/core/explain-format.js';
import {
  type ExplainSubject,
  NOBODY,
  subjectFromEmailOnly,
} from '../../src/core/explain-subject.js';
import type { Identity } from '../../src/core/identity.js';
import { compileRules, type RuleSpec } from '../../src/core/rules.js';
import { parseAbsoluteTarget } from '../../src/core/target.js';

/** `portcullis explain` (and the admin page, which shows the same `why` lines) for `require`. */
const anonymousUser: Identity = {
  id: 'anonymous',
  username: 'anonymous',
  email: 'anonymous@localhost',
  name: 'Anonymous',
  groups: [],
  anonymous: true,
};

const specs: RuleSpec[] = [
  { host: 'vault.example.com', require: ['passkey'] },
  { host: 'ops.example.com', groups: ['ops'], require: ['mfa'] },
];

function policyOf(anonymousMode = false): AccessPolicy {
  return { defaultPolicy: 'authenticated', rules: compileRules(specs), anonymousMode };
}

function subject(amr: string[], groups: string[] = []): ExplainSubject {
  return {
    identity: {
      id: 'u1',
      username: 'zoe',
      email: 'zoe@example.com',
      name: 'Zoe',
      groups,
      anonymous: false,
      amr,
    },
    description: 'zoe@example.com',
  };
}

function run(url: string, who: ExplainSubject, anonymousMode = false) {
  const parsed = parseAbsoluteTarget(url, 'GET');
  if (!parsed.ok) throw new Error(parsed.reason);
  const explanation = explain(policyOf(anonymousMode), specs, parsed.target, who, anonymousUser);
  return { explanation, text: formatExplanation(explanation, who).join('\n') };
}

describe('explain: rules that require a factor', () => {
  it('a session signed in by link alone: login, step_up, which factor, and what comes after', () => {
    const { explanation, text } = run('https://vault.example.com/', subject(['link']));
    expect(explanation.answer).toBe('login');
    expect(explanation.require).toEqual({ factor: 'passkey', stepUp: true });
    expect(text).toContain('Answer:  login');
    expect(text).toContain('Needs:   a passkey — step_up');
    expect(text).toMatch(/access\.rules\[0\] requires a passkey; zoe@example\.com is signed in/);
    expect(text).toContain('to step up (never deny)');
    expect(text).toContain('After that step-up the answer would be allow.');
    expect(text).toContain('access.rules[0] {host: vault.example.com, require: [passkey]}');
  });

  it('an mfa rule with groups: members step up, others are denied outright', () => {
    const { explanation, text } = run('https://ops.example.com/', subject(['link'], ['ops']));
    expect(explanation.require).toEqual({ factor: 'mfa', stepUp: true });
    expect(text).toContain('a second factor (a one-time code or a passkey)');
    expect(text).toContain('After that step-up the answer would be allow.');
    // Not in ops: denied outright, no step-up offered.
    const denied = run('https://ops.example.com/', subject(['link'], ['dev']));
    expect(denied.explanation.answer).toBe('deny');
    expect(denied.explanation.require).toBeNull();
    expect(denied.text).not.toContain('Needs:');
  });

  it('nobody: the sign-in must include the factor', () => {
    const { explanation, text } = run('https://vault.example.com/', NOBODY);
    expect(explanation.require).toEqual({ factor: 'passkey', stepUp: false });
    expect(text).toContain('Needs:   a passkey — the sign-in must include it');
    expect(text).toContain(
      'Not signed in: the answer is the login page, and the sign-in must include a passkey',
    );
  });

  it('a session with the factor is let in, and the reason names it', () => {
    const { explanation, text } = run('https://vault.example.com/', subject(['link', 'passkey']));
    expect(explanation.answer).toBe('allow');
    expect(explanation.require).toBeNull();
    expect(text).toContain('The session has shown a passkey, which access.rules[0] requires.');
  });

  it('the CLI subject (no session known) is explained as one without any factor', () => {
    const { explanation } = run(
      'https://vault.example.com/',
      subjectFromEmailOnly('zoe@example.com'),
    );
    expect(explanation.answer).toBe('login');
    expect(explanation.require).toEqual({ factor: 'passkey', stepUp: true });
  });

  it('anonymous mode: the rule still requires the factor', () => {
    const nobody = run('https://vault.example.com/', NOBODY, true);
    expect(nobody.explanation.answer).toBe('login');
    expect(nobody.text).toContain('anonymous_mode is on, but access.rules[0] requires a passkey');
    expect(nobody.text).toContain('Needs:   a passkey — the sign-in must include it');
    const linked = run('https://vault.example.com/', subject(['link']), true);
    expect(linked.explanation.require).toEqual({ factor: 'passkey', stepUp: true });
    expect(linked.text).toContain('to step up with a passkey');
    const ok = run('https://vault.example.com/', subject(['passkey']), true);
    expect(ok.explanation.answer).toBe('allow');
    expect(ok.text).toContain(
      'access.rules[0] still requires a passkey, and this session has shown it.',
    );
    const elsewhere = run('https://other.example.com/', NOBODY, true);
    expect(elsewhere.explanation.answer).toBe('allow');
    expect(elsewhere.text).not.toContain('requires');
  });
});
