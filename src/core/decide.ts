import { type FactorRequirement, missingFactor, strongestRequirement } from './amr.js';
import type { Identity } from './identity.js';
import type { Target } from './target.js';

export type Policy = 'bypass' | 'authenticated' | 'deny';

/** Who may pass where a policy says "authenticated": any one group, any one e-mail glob, any one domain (null: no limit). */
export interface IdentityRequirement {
  groups: readonly string[] | null;
  emails: readonly RegExp[] | null;
  domains: readonly string[] | null;
}

/**
 * A requirement the asking request adds on top of the rules (oauth2-proxy's `allowed_*`
 * parameters); a signed-in identity that fails it is denied with `reason`.
 */
export interface IdentityConstraint extends IdentityRequirement {
  reason: string;
}

/** An access rule after config loading: plain data with its matchers compiled. */
export interface CompiledRule extends IdentityRequirement {
  index: number;
  hosts: readonly RegExp[] | null;
  /** Each path glob twice: as written, and case-insensitive for the lenient reading. */
  paths: readonly { exact: RegExp; loose: RegExp }[] | null;
  methods: ReadonlySet<string> | null;
  policy: Policy;
  /** Factors a session must have shown (`access.rules[].require`); absent or empty: none. */
  require?: readonly FactorRequirement[];
}

export interface AccessPolicy {
  defaultPolicy: Policy;
  rules: readonly CompiledRule[];
  anonymousMode: boolean;
}

/**
 * The reason of a `login` decision for a session that exists but lacks a factor the rule
 * requires: the person signs in again with the factor (a step-up), on the same "log in" answer
 * every dialect gives (401 with Location / 302), never 403.
 */
export const STEP_UP = 'step_up';

/**
 * The answer, with its reason (STYLE: decisions carry reasons). `rule` is the index matched, or -1
 * for the default. A `login` for a rule with `require` names the factor to ask for in `require`:
 * with reason `step_up` the session is there but lacks it; with `no session` the sign-in must
 * end with it. The edge puts it in the login URL so the login page asks for that factor.
 */
export type Decision =
  | { kind: 'allow'; identity: Identity | null; rule: number; reason: string }
  | { kind: 'login'; rule: number; reason: string; require?: FactorRequirement }
  | { kind: 'deny'; identity: Identity; rule: number; reason: string };

function matchesAny(patterns: readonly RegExp[], value: string): boolean {
  for (const pattern of patterns) if (pattern.test(value)) return true;
  return false;
}

function ruleMatches(rule: CompiledRule, target: Target, loose: boolean): boolean {
  if (rule.hosts && !matchesAny(rule.hosts, target.host)) return false;
  if (rule.paths) {
    const path = loose ? target.loosePath : target.path;
    if (!rule.paths.some((glob) => (loose ? glob.loose : glob.exact).test(path))) return false;
  }
  if (rule.methods && !rule.methods.has(target.method)) return false;
  return true;
}

function identityPasses(rule: IdentityRequirement, identity: Identity): boolean {
  if (rule.groups && !rule.groups.some((group) => identity.groups.includes(group))) return false;
  const email = identity.email.toLowerCase();
  if (rule.emails && !matchesAny(rule.emails, email)) return false;
  if (rule.domains) {
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (!rule.domains.includes(domain)) return false;
  }
  return true;
}

function firstMatch(
  policy: AccessPolicy,
  target: Target,
  loose: boolean,
): CompiledRule | undefined {
  for (const rule of policy.rules) if (ruleMatches(rule, target, loose)) return rule;
  return undefined;
}

function evaluate(
  policy: AccessPolicy,
  target: Target,
  loose: boolean,
  identity: Identity | null,
): Decision {
  const matched = firstMatch(policy, target, loose);
  const need = strongestRequirement(matched?.require);
  // A rule that requires a factor is never a bypass, even if written so: fail closed.
  const effective = matched
    ? need !== null && matched.policy === 'bypass'
      ? 'authenticated'
      : matched.policy
    : policy.defaultPolicy;
  const index = matched ? matched.index : -1;
  if (effective === 'bypass') return { kind: 'allow', identity, rule: index, reason: 'bypass' };
  if (!identity) {
    return need !== null && effective !== 'deny'
      ? { kind: 'login', rule: index, reason: 'no session', require: need }
      : { kind: 'login', rule: index, reason: 'no session' };
  }
  if (effective === 'deny') return { kind: 'deny', identity, rule: index, reason: 'policy deny' };
  if (matched && !identityPasses(matched, identity)) {
    return { kind: 'deny', identity, rule: index, reason: 'identity not allowed by rule' };
  }
  // Checked after the rule's conditions: a factor cannot turn a "not allowed" into a yes, so
  // such a user is told no at once rather than sent through a step-up first.
  const missing = missingFactor(matched?.require, identity.anonymous ? [] : identity.amr);
  if (missing !== null) return { kind: 'login', rule: index, reason: STEP_UP, require: missing };
  return { kind: 'allow', identity, rule: index, reason: 'authenticated' };
}

const STRICTNESS = { allow: 0, login: 1, deny: 2 } as const;

/**
 * Orders answers from most to least permissive. Among `login` answers, one that asks for a factor
 * is stricter (a passkey most), so the login page asks for everything any reading requires.
 */
function strictness(decision: Decision): number {
  if (decision.kind !== 'login' || decision.require === undefined) {
    return STRICTNESS[decision.kind];
  }
  return STRICTNESS.login + (decision.require === 'passkey' ? 0.2 : 0.1);
}

/**
 * May this request pass, and as whom? Pure: no I/O, no clock. `identity` is the signed-in user
 * or null. The rules are matched against the strict (RFC 3986) and the lenient reading of the
 * path (`Target.loosePath`) and the stricter answer wins; an ambiguous path
 * (`Target.ambiguous`: encoded slashes, `;` parameters, double encoding, dot segments) is
 * never let through by a `bypass` rule alone. `constraint`, when given, must also hold for any
 * signed-in identity let through (the anonymous user is never refused by it).
 */
export function decide(
  policy: AccessPolicy,
  target: Target,
  identity: Identity | null,
  anonymousUser: Identity,
  constraint: IdentityConstraint | null = null,
): Decision {
  const decision = decideRules(policy, target, identity, anonymousUser);
  if (
    constraint === null ||
    decision.kind !== 'allow' ||
    decision.identity === null ||
    decision.identity.anonymous ||
    identityPasses(constraint, decision.identity)
  ) {
    return decision;
  }
  return { kind: 'deny', identity: decision.identity, rule: -1, reason: constraint.reason };
}

function decideRules(
  policy: AccessPolicy,
  target: Target,
  identity: Identity | null,
  anonymousUser: Identity,
): Decision {
  if (policy.anonymousMode) return decideAnonymousMode(policy, target, identity, anonymousUser);
  if (target.method === '') {
    const methods = namedMethods(policy);
    // The proxy did not say which method was used. Taking it for a GET would let a GET-only
    // bypass through for a DELETE; instead the answer is the strictest that any method would get:
    // every method a rule names, and one that no rule names.
    if (methods.length > 0) {
      let worst = decideFor(policy, target, identity);
      for (const method of methods) {
        const answer = decideFor(policy, { ...target, method }, identity);
        if (strictness(answer) > strictness(worst)) worst = answer;
      }
      return worst;
    }
  }
  return decideFor(policy, target, identity);
}

const methodLists = new WeakMap<AccessPolicy, readonly string[]>();

/** Every method that some rule is scoped to. */
function namedMethods(policy: AccessPolicy): readonly string[] {
  let methods = methodLists.get(policy);
  if (methods === undefined) {
    const all = new Set<string>();
    for (const rule of policy.rules) for (const method of rule.methods ?? []) all.add(method);
    methods = [...all];
    methodLists.set(policy, methods);
  }
  return methods;
}

function decideFor(policy: AccessPolicy, target: Target, identity: Identity | null): Decision {
  const strict = evaluate(policy, target, false, identity);
  if (policy.rules.length === 0) return strict;
  const loose = evaluate(policy, target, true, identity);
  let worst = strictness(loose) > strictness(strict) ? loose : strict;
  // A bypass needs both readings to agree and a path every upstream reads the same way.
  if (
    worst.kind === 'allow' &&
    worst.reason === 'bypass' &&
    (target.ambiguous || loose.reason !== 'bypass')
  ) {
    // Ambiguous path: treat a bypass as if the default "authenticated" applied.
    worst = identity
      ? { kind: 'allow', identity, rule: worst.rule, reason: 'ambiguous path, bypass refused' }
      : { kind: 'login', rule: worst.rule, reason: 'ambiguous path, bypass refused' };
  }
  return worst;
}

const factorRules = new WeakMap<AccessPolicy, boolean>();

/** Whether any rule has `require` (anonymous mode then matches rules at all; else it never does). */
function hasFactorRules(policy: AccessPolicy): boolean {
  let has = factorRules.get(policy);
  if (has === undefined) {
    has = policy.rules.some((rule) => (rule.require ?? []).length > 0);
    factorRules.set(policy, has);
  }
  return has;
}

/**
 * Anonymous mode lets every request in, except where a rule requires a factor: the anonymous
 * user never has one, so it is sent to sign in, and a session without the factor to a step-up.
 * Which rule applies is read as everywhere else: both readings of the path, and, without a
 * method, every method a rule names; the requirements of every rule so matched all apply.
 */
function decideAnonymousMode(
  policy: AccessPolicy,
  target: Target,
  identity: Identity | null,
  anonymousUser: Identity,
): Decision {
  const allow: Decision = {
    kind: 'allow',
    identity: identity ?? anonymousUser,
    rule: -1,
    reason: 'anonymous mode',
  };
  if (!hasFactorRules(policy)) return allow;
  const targets =
    target.method === ''
      ? [target, ...namedMethods(policy).map((method) => ({ ...target, method }))]
      : [target];
  const required = new Set<FactorRequirement>();
  let rule = -1;
  for (const each of targets) {
    for (const loose of [false, true]) {
      const matched = firstMatch(policy, each, loose);
      for (const need of matched?.require ?? []) {
        if (rule === -1 && matched) rule = matched.index;
        required.add(need);
      }
    }
  }
  if (required.size === 0) return allow;
  const all = [...required];
  if (identity === null || identity.anonymous) {
    const need = strongestRequirement(all) ?? 'passkey';
    return { kind: 'login', rule, reason: 'no session', require: need };
  }
  const missing = missingFactor(all, identity.amr);
  if (missing !== null) return { kind: 'login', rule, reason: STEP_UP, require: missing };
  return { ...allow, rule };
}
