import type { FactorRequirement } from './amr.js';
import { type AccessPolicy, type CompiledRule, type Decision, decide, STEP_UP } from './decide.js';
import type { ExplainSubject } from './explain-subject.js';
import type { Identity } from './identity.js';
import type { RuleSpec } from './rules.js';
import type { Target } from './target.js';

/** `access.rules[N]`, or `access.default_policy` for -1. */
export function ruleName(index: number): string {
  return index === -1 ? 'access.default_policy' : `access.rules[${index}]`;
}

const CONDITION_HINT = 'groups, emails or domains';

/** Which of the rule's identity conditions fail for `identity`, as sentences. */
function failedConditions(rule: CompiledRule, spec: RuleSpec, identity: Identity): string[] {
  const out: string[] = [];
  if (rule.groups && !rule.groups.some((group) => identity.groups.includes(group))) {
    const has = identity.groups.length > 0 ? identity.groups.join(', ') : 'no groups';
    out.push(`lets in members of ${rule.groups.join(', ')}; ${identity.email} has ${has}`);
  }
  const email = identity.email.toLowerCase();
  if (rule.emails && !rule.emails.some((pattern) => pattern.test(email))) {
    out.push(`lets in the emails ${(spec.emails ?? []).join(', ')}; ${email} is not one`);
  }
  if (rule.domains) {
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (!rule.domains.includes(domain)) {
      out.push(`lets in the domains ${rule.domains.join(', ')}; ${domain} is not one`);
    }
  }
  return out;
}

export const FACTOR_WORDS: Record<FactorRequirement, string> = {
  passkey: 'a passkey',
  mfa: 'a second factor (a one-time code or a passkey)',
};

function requirementWords(rule: CompiledRule | undefined): string {
  const needs = rule?.require ?? [];
  return needs.map((need) => FACTOR_WORDS[need]).join(' and ');
}

/** What the same subject would get once it has shown `factor` (a passkey also gives `mfa`). */
function afterStepUp(
  policy: AccessPolicy,
  target: Target,
  identity: Identity,
  anonymousUser: Identity,
  factor: FactorRequirement,
): Decision['kind'] {
  const gained = factor === 'passkey' ? ['passkey'] : ['otp'];
  const amr = [...(identity.amr ?? []), ...gained];
  return decide(policy, target, { ...identity, amr }, anonymousUser).kind;
}

function hasConditions(rule: CompiledRule | undefined): boolean {
  return (
    rule !== undefined && (rule.groups !== null || rule.emails !== null || rule.domains !== null)
  );
}

/** Why `decision` came out as it did, one sentence a line. */
export function reasons(
  policy: AccessPolicy,
  specs: readonly RuleSpec[],
  target: Target,
  subject: ExplainSubject,
  decision: Decision,
  anonymousUser: Identity,
): string[] {
  const rule = decision.rule === -1 ? undefined : policy.rules[decision.rule];
  if (decision.reason === 'anonymous mode') {
    const out = [
      'anonymous_mode is on: every request is let in, as anonymous_user when not signed in.',
    ];
    if (rule?.require) {
      out.push(
        `${ruleName(decision.rule)} still requires ${requirementWords(rule)}, and this session has shown it.`,
      );
    }
    return out;
  }
  if (policy.anonymousMode && decision.kind === 'login') {
    const needs = requirementWords(rule);
    return [
      `anonymous_mode is on, but ${ruleName(decision.rule)} requires ${needs}: anonymous_user never has it.`,
      decision.reason === STEP_UP
        ? `Signed in without it: the answer is the login page, to step up with ${FACTOR_WORDS[decision.require ?? 'passkey']}.`
        : `Not signed in: the answer is the login page, and the sign-in must include ${FACTOR_WORDS[decision.require ?? 'passkey']}.`,
    ];
  }
  const spec = decision.rule === -1 ? undefined : specs[decision.rule];
  const name = ruleName(decision.rule);
  const effective = rule ? rule.policy : policy.defaultPolicy;
  const matched =
    decision.rule === -1
      ? `No rule matches, so access.default_policy (${policy.defaultPolicy}) applies.`
      : `${name} is the first rule that matches; its policy is ${effective}.`;
  const out = [matched];
  if (target.loosePath !== target.path) {
    out.push(
      `A lenient upstream may read the path as ${target.loosePath}: the rules are matched against both readings and the stricter answer wins.`,
    );
  }
  if (target.ambiguous) {
    out.push(
      'The path is ambiguous (an encoded / \\ ; ? # or %, a ; parameter or a dot segment): no bypass rule lets it through.',
    );
  }
  switch (decision.reason) {
    case 'bypass':
      out.push(
        'bypass: let in without signing in; identity headers are sent only for a signed-in user.',
      );
      break;
    case 'ambiguous path, bypass refused':
      out.push(
        decision.kind === 'allow'
          ? 'The bypass is refused for this path, so it is treated as "authenticated": signed in, so let in.'
          : 'The bypass is refused for this path, so it is treated as "authenticated": a sign-in is needed.',
      );
      break;
    case 'no session':
      out.push(
        effective === 'deny'
          ? 'Not signed in: the answer is the login page first (once signed in, the answer would be deny).'
          : decision.kind === 'login' && decision.require !== undefined
            ? `Not signed in: the answer is the login page, and the sign-in must include ${FACTOR_WORDS[decision.require]} (${name} requires ${requirementWords(rule)}).`
            : 'Not signed in: the answer is the login page.',
      );
      break;
    case STEP_UP:
      if (decision.kind === 'login' && decision.require !== undefined) {
        const who = subject.identity?.email ?? 'the user';
        out.push(
          `${name} requires ${requirementWords(rule)}; ${who} is signed in, but the session has not shown ${FACTOR_WORDS[decision.require]}: the answer is the login page, to step up (never deny).`,
        );
        if (subject.identity) {
          const then = afterStepUp(
            policy,
            target,
            subject.identity,
            anonymousUser,
            decision.require,
          );
          out.push(`After that step-up the answer would be ${then}.`);
        }
      }
      break;
    case 'policy deny':
      out.push('deny: nobody is let in, signed in or not.');
      break;
    case 'identity not allowed by rule':
      if (rule && spec && decision.kind === 'deny') {
        for (const failed of failedConditions(rule, spec, decision.identity)) {
          out.push(`${name} ${failed}.`);
        }
      }
      break;
    case 'authenticated':
      out.push(
        hasConditions(rule)
          ? `Signed in, and ${subject.identity?.email ?? 'the user'} meets the rule's ${CONDITION_HINT}: let in.`
          : 'Signed in, and any signed-in user may pass: let in.',
      );
      if (rule?.require) {
        out.push(`The session has shown ${requirementWords(rule)}, which ${name} requires.`);
      }
      break;
    default:
      out.push(decision.reason);
  }
  return out;
}
