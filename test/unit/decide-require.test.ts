import { describe, expect, it } from 'vitest';
import type { FactorRequirement } from '../../src/core/amr.js';
import {
  type AccessPolicy,
  type Decision,
  decide,
  type Policy,
  STEP_UP,
} from '../../src/core/decide.js';
import type { Identity } from '../../src/core/identity.js';
import { compileRules, type RuleSpec } from '../../src/core/rules.js';
import { parseAbsoluteTarget } from '../../src/core/target.js';

/**
 * `access.rules[].require`: a rule that asks for a passkey or a second factor. A session that is
 * there but lacks the factor gets `login` with reason `step_up` (never deny, never allow); no
 * session gets `login` naming the factor the sign-in must include; anonymous mode does not open
 * such a rule.
 */
const anonymousUser: Identity = {
  id: 'anonymous',
  username: 'anonymous',
  email: 'anonymous@localhost',
  name: 'Anonymous',
  groups: [],
  anonymous: true,
  amr: [],
};

function person(amr: readonly string[] | undefined, groups: string[] = ['staff']): Identity {
  const base = {
    id: 'alice',
    username: 'alice',
    email: 'alice@example.com',
    name: 'Alice',
    groups,
    anonymous: false,
  };
  return amr === undefined ? base : { ...base, amr };
}

function policyOf(rules: RuleSpec[], defaultPolicy: Policy, anonymousMode: boolean): AccessPolicy {
  return { defaultPolicy, rules: compileRules(rules), anonymousMode };
}

function check(
  policy: AccessPolicy,
  url: string,
  identity: Identity | null,
  method = 'GET',
): Decision {
  const parsed = parseAbsoluteTarget(url, method);
  if (!parsed.ok) throw new Error(`bad test URL ${url}: ${parsed.reason}`);
  return decide(policy, parsed.target, identity, anonymousUser);
}

/** What each session (by its amr) lacks for each `require` list: null when it meets it. */
const REQUIRES: (readonly FactorRequirement[])[] = [['passkey'], ['mfa'], ['passkey', 'mfa']];
const SESSIONS: [string, readonly string[] | undefined, (FactorRequirement | null)[]][] = [
  // label, amr, what it lacks for [passkey], [mfa], [passkey, mfa]
  ['a session stored before amr existed', undefined, ['passkey', 'mfa', 'passkey']],
  ['no methods', [], ['passkey', 'mfa', 'passkey']],
  ['magic link', ['link'], ['passkey', 'mfa', 'passkey']],
  ['Google / OIDC', ['sso'], ['passkey', 'mfa', 'passkey']],
  ['password', ['pwd'], ['passkey', 'mfa', 'passkey']],
  ['password + TOTP', ['pwd', 'otp'], ['passkey', null, 'passkey']],
  ['link + recovery code', ['link', 'otp'], ['passkey', null, 'passkey']],
  ['passkey sign-in', ['passkey'], [null, null, null]],
  ['link, then passkey step-up', ['link', 'passkey'], [null, null, null]],
  // Hostile spellings: only the exact method names count.
  ['a literal "mfa" method', ['sso', 'mfa'], ['passkey', 'mfa', 'passkey']],
  ['PASSKEY in capitals', ['PASSKEY'], ['passkey', 'mfa', 'passkey']],
  ['passkey with a space', ['passkey '], ['passkey', 'mfa', 'passkey']],
  ['hwk and user (RFC 8176, not ours)', ['hwk', 'user', 'swk'], ['passkey', 'mfa', 'passkey']],
];

const POLICIES: Policy[] = ['bypass', 'authenticated', 'deny'];
const URL_ = 'https://vault.example.com/secrets';

type Expected = Pick<Decision, 'kind' | 'reason'> & { require?: FactorRequirement };

/** The spec, case by case (see the file comment). */
function expected(
  rulePolicy: Policy,
  require: readonly FactorRequirement[],
  lacks: FactorRequirement | null,
  signedIn: boolean,
  anonymousMode: boolean,
): Expected {
  const strongest: FactorRequirement = require.includes('passkey') ? 'passkey' : 'mfa';
  if (anonymousMode) {
    if (!signedIn) return { kind: 'login', reason: 'no session', require: strongest };
    if (lacks) return { kind: 'login', reason: STEP_UP, require: lacks };
    return { kind: 'allow', reason: 'anonymous mode' };
  }
  if (rulePolicy === 'deny') {
    return signedIn
      ? { kind: 'deny', reason: 'policy deny' }
      : { kind: 'login', reason: 'no session' };
  }
  // `bypass` with `require` is read as `authenticated`: a factor rule is never a bypass.
  if (!signedIn) return { kind: 'login', reason: 'no session', require: strongest };
  if (lacks) return { kind: 'login', reason: STEP_UP, require: lacks };
  return { kind: 'allow', reason: 'authenticated' };
}

describe('require × amr × anonymous mode × policy', () => {
  const rows: [
    string,
    Policy,
    readonly FactorRequirement[],
    string,
    readonly string[] | undefined,
    FactorRequirement | null,
    boolean,
  ][] = [];
  for (const anonymousMode of [false, true])
    for (const rulePolicy of POLICIES)
      REQUIRES.forEach((require, r) => {
        for (const [label, amr, lacks] of SESSIONS) {
          rows.push([
            anonymousMode ? 'anonymous mode' : 'normal',
            rulePolicy,
            require,
            label,
            amr,
            lacks[r] ?? null,
            anonymousMode,
          ]);
        }
      });

  it.each(rows)(
    '%s, policy %s, require %j, %s',
    (_mode, rulePolicy, require, _label, amr, lacks, anonymousMode) => {
      for (const defaultPolicy of POLICIES) {
        const policy = policyOf(
          [{ host: 'vault.example.com', policy: rulePolicy, require }],
          defaultPolicy,
          anonymousMode,
        );
        const signedIn = check(policy, URL_, person(amr));
        const want = expected(rulePolicy, require, lacks, true, anonymousMode);
        expect(signedIn).toMatchObject({ ...want, rule: 0 });
        expect('require' in signedIn ? signedIn.require : undefined).toBe(want.require);
        const nobody = check(policy, URL_, null);
        const wantNobody = expected(rulePolicy, require, lacks, false, anonymousMode);
        expect(nobody).toMatchObject({ ...wantNobody, rule: 0 });
        expect('require' in nobody ? nobody.require : undefined).toBe(wantNobody.require);
      }
    },
  );

  it('without require, the rule answers as before in every mode', () => {
    for (const anonymousMode of [false, true])
      for (const rulePolicy of POLICIES) {
        const policy = policyOf(
          [{ host: 'vault.example.com', policy: rulePolicy }],
          'authenticated',
          anonymousMode,
        );
        for (const [, amr] of SESSIONS) {
          const d = check(policy, URL_, person(amr));
          const want = anonymousMode ? 'allow' : rulePolicy === 'deny' ? 'deny' : 'allow';
          expect(d.kind).toBe(want);
          expect('require' in d).toBe(false);
        }
      }
  });
});

describe('invariants over the whole grid', () => {
  const all: { policy: AccessPolicy; rulePolicy: Policy; require: readonly FactorRequirement[] }[] =
    [];
  for (const anonymousMode of [false, true])
    for (const rulePolicy of POLICIES)
      for (const defaultPolicy of POLICIES)
        for (const require of REQUIRES)
          all.push({
            policy: policyOf(
              [{ host: 'vault.example.com', policy: rulePolicy, require }],
              defaultPolicy,
              anonymousMode,
            ),
            rulePolicy,
            require,
          });

  it('a session lacking the factor is never let in, and never denied unless the policy denies', () => {
    for (const { policy, rulePolicy, require } of all)
      for (const [, amr, lacks] of SESSIONS) {
        const missing = lacks[REQUIRES.indexOf(require)];
        if (missing === null) continue;
        const d = check(policy, URL_, person(amr));
        expect(d.kind).not.toBe('allow');
        if (d.kind === 'deny') expect(rulePolicy).toBe('deny');
        if (!policy.anonymousMode && rulePolicy === 'deny') continue;
        expect(d).toMatchObject({ kind: 'login', reason: STEP_UP, require: missing });
      }
  });

  it('no request without a session is let in through a require rule, anonymous mode or not', () => {
    for (const { policy } of all) {
      expect(check(policy, URL_, null).kind).toBe('login');
      // The anonymous user itself, even if it somehow carried methods, never meets it.
      expect(check(policy, URL_, { ...anonymousUser, amr: ['passkey', 'otp'] }).kind).not.toBe(
        'allow',
      );
    }
  });

  it('other hosts are untouched by the rule', () => {
    const policy = policyOf(
      [{ host: 'vault.example.com', require: ['passkey'] }],
      'authenticated',
      false,
    );
    expect(check(policy, 'https://app.example.com/', person(['link']))).toMatchObject({
      kind: 'allow',
      rule: -1,
    });
    const anon = policyOf([{ host: 'vault.example.com', require: ['passkey'] }], 'deny', true);
    expect(check(anon, 'https://app.example.com/', null)).toMatchObject({
      kind: 'allow',
      rule: -1,
    });
  });
});

describe('require beside the other conditions and readings', () => {
  it('a user the rule does not allow is denied at once, not sent to step up first', () => {
    const policy = policyOf(
      [{ host: 'vault.example.com', groups: ['ops'], require: ['passkey'] }],
      'authenticated',
      false,
    );
    expect(check(policy, URL_, person(['link'], ['staff']))).toMatchObject({
      kind: 'deny',
      reason: 'identity not allowed by rule',
    });
    expect(check(policy, URL_, person(['link'], ['ops']))).toMatchObject({
      kind: 'login',
      reason: STEP_UP,
      require: 'passkey',
    });
    expect(check(policy, URL_, person(['link', 'passkey'], ['ops'])).kind).toBe('allow');
  });

  it('a path that reaches the rule only in the lenient reading still needs the factor', () => {
    const policy = policyOf(
      [{ host: 'app.example.com', path: '/vault/**', require: ['passkey'] }],
      'bypass',
      false,
    );
    for (const url of [
      'https://app.example.com/VAULT/x',
      'https://app.example.com/Vault/x',
      'https://app.example.com/vault/x',
      'https://app.example.com/public/../vault/x',
      'https://app.example.com//vault/x',
    ]) {
      expect(check(policy, url, person(['link'])), url).toMatchObject({
        kind: 'login',
        reason: STEP_UP,
        require: 'passkey',
      });
      expect(check(policy, url, null).kind, url).toBe('login');
    }
    expect(check(policy, 'https://app.example.com/other', null).kind).toBe('allow');
  });

  it('asks for the strongest factor either reading requires', () => {
    const policy = policyOf(
      [
        { host: 'app.example.com', path: '/Docs/**', require: ['mfa'] },
        { host: 'app.example.com', path: '/docs/**', require: ['passkey'] },
      ],
      'authenticated',
      false,
    );
    // /docs/a: the exact reading meets rule 1 (passkey), the lenient one rule 0 first (mfa).
    const url = 'https://app.example.com/docs/a';
    for (const amr of [['link'], ['pwd', 'otp']]) {
      expect(check(policy, url, person(amr)), amr.join()).toMatchObject({
        kind: 'login',
        reason: STEP_UP,
        require: 'passkey',
      });
    }
    expect(check(policy, url, null)).toMatchObject({ kind: 'login', require: 'passkey' });
    expect(check(policy, url, person(['link', 'passkey'])).kind).toBe('allow');
    // /Docs/a: both readings meet rule 0.
    expect(check(policy, 'https://app.example.com/Docs/a', person(['link']))).toMatchObject({
      require: 'mfa',
    });
    expect(check(policy, 'https://app.example.com/Docs/a', person(['pwd', 'otp'])).kind).toBe(
      'allow',
    );
  });

  it('without a forwarded method, a require rule scoped to one method applies', () => {
    for (const anonymousMode of [false, true]) {
      const policy = policyOf(
        [{ host: 'app.example.com', methods: ['POST'], require: ['mfa'] }],
        'authenticated',
        anonymousMode,
      );
      const url = 'https://app.example.com/form';
      expect(check(policy, url, person(['link']), '')).toMatchObject({
        kind: 'login',
        reason: STEP_UP,
        require: 'mfa',
      });
      expect(check(policy, url, person(['link']), 'GET').kind).toBe('allow');
      expect(check(policy, url, person(['link']), 'POST')).toMatchObject({ reason: STEP_UP });
      expect(check(policy, url, person(['link', 'otp']), '').kind).toBe('allow');
    }
  });

  it("oauth2-proxy's allowed_* never turns a step-up into a yes or a no", () => {
    const policy = policyOf(
      [{ host: 'vault.example.com', require: ['passkey'] }],
      'authenticated',
      false,
    );
    const parsed = parseAbsoluteTarget(URL_, 'GET');
    if (!parsed.ok) throw new Error(parsed.reason);
    const constraint = { groups: ['ops'], emails: null, domains: null, reason: 'allowed_groups' };
    expect(
      decide(policy, parsed.target, person(['link']), anonymousUser, constraint),
    ).toMatchObject({
      kind: 'login',
      reason: STEP_UP,
    });
    expect(
      decide(policy, parsed.target, person(['link', 'passkey']), anonymousUser, constraint),
    ).toMatchObject({ kind: 'deny', reason: 'allowed_groups' });
  });

  it('an empty require list asks for nothing', () => {
    const policy = policyOf([{ host: 'vault.example.com', require: [] }], 'authenticated', false);
    expect(check(policy, URL_, person(['link'])).kind).toBe('allow');
    expect(policy.rules[0]?.require).toBeUndefined();
  });
});
