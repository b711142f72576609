import { stringify } from 'yaml';
import type { FactorRequirement } from './amr.js';
import { type AccessPolicy, type Decision, decide, STEP_UP } from './decide.js';
import { reasons } from './explain-reasons.js';
import type { ExplainSubject } from './explain-subject.js';
import type { Identity } from './identity.js';
import type { RuleSpec } from './rules.js';
import { type Target, targetUrl } from './target.js';

/**
 * `portcullis explain` and the admin panel's "Explain access": the answer a check would give,
 * taken from the same `decide` the checks run (so the two cannot drift apart), with the rule that
 * matched and the reason spelled out for a person. Pure: the caller looks the user up.
 */
export interface Explanation {
  url: string;
  /** The method asked about; an empty string when none was given. */
  method: string;
  answer: Decision['kind'];
  /** `access.rules[N]`, or null when no rule matched and `access.default_policy` applied. */
  rule: { index: number; written: string } | null;
  /** Why, one sentence a line. */
  why: string[];
  /**
   * The factor a `login` answer asks for (`access.rules[].require`): with `stepUp` true the user
   * is signed in and must step up; else the sign-in must include it. Null when none is asked.
   */
  require: { factor: FactorRequirement; stepUp: boolean } | null;
  /** Without a method: the answer each method named by a rule would get, and any other method. */
  perMethod: { method: string; answer: Decision['kind']; rule: number }[];
}

/** A rule as it reads in the config file, on one line. */
export function writtenRule(spec: RuleSpec): string {
  return stringify(spec, {
    collectionStyle: 'flow',
    flowCollectionPadding: false,
    lineWidth: 0,
  }).trim();
}

/** Standard methods, to name one that no rule is scoped to. */
const COMMON_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

function breakdown(
  policy: AccessPolicy,
  target: Target,
  identity: Identity | null,
  anonymousUser: Identity,
): Explanation['perMethod'] {
  const named = new Set<string>();
  for (const rule of policy.rules) for (const method of rule.methods ?? []) named.add(method);
  if (named.size === 0 || policy.anonymousMode) return [];
  const other = COMMON_METHODS.find((method) => !named.has(method)) ?? 'UNNAMED';
  return [...named, other].map((method) => {
    const decision = decide(policy, { ...target, method }, identity, anonymousUser);
    return { method, answer: decision.kind, rule: decision.rule };
  });
}

/** The answer a check would give for `target` (its `method` may be '', unknown) and `subject`. */
export function explain(
  policy: AccessPolicy,
  specs: readonly RuleSpec[],
  target: Target,
  subject: ExplainSubject,
  anonymousUser: Identity,
): Explanation {
  const decision = decide(policy, target, subject.identity, anonymousUser);
  const spec = decision.rule === -1 ? undefined : specs[decision.rule];
  return {
    url: targetUrl(target),
    method: target.method,
    answer: decision.kind,
    rule: spec ? { index: decision.rule, written: writtenRule(spec) } : null,
    why: reasons(policy, specs, target, subject, decision, anonymousUser),
    require:
      decision.kind === 'login' && decision.require !== undefined
        ? { factor: decision.require, stepUp: decision.reason === STEP_UP }
        : null,
    perMethod:
      target.method === '' ? breakdown(policy, target, subject.identity, anonymousUser) : [],
  };
}
