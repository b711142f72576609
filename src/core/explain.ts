import { stringify } from 'yaml';
import type { User } from '../ports/store.js';
import type { FactorRequirement } from './amr.js';
import { type AccessPolicy, type CompiledRule, type Decision, decide, STEP_UP } from './decide.js';
import type { Identity } from './identity.js';
import type { RuleSpec } from './rules.js';
import { type Target, targetUrl } from './target.js';
import { initialUsername } from './username.js';

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

/** Who is asked about: the identity `decide` sees, and what the operator should know about it. */
export interface ExplainSubject {
  identity: Identity | null;
  description: string;
}

/** A user as read from the store (or null when there is none with that email). */
export function subjectFromUser(email: string, user: User | null): ExplainSubject {
  if (!user) {
    return {
      identity: {
        id: '',
        username: initialUsername(null, email),
        email,
        name: '',
        groups: [],
        anonymous: false,
      },
      description: `${email} — no such user in the store; explained as if they signed in now (a new account has no groups)`,
    };
  }
  const groups = user.groups.length > 0 ? user.groups.join(', ') : 'none';
  if (!user.active) {
    return {
      identity: null,
      description: `${user.email} — deactivated: cannot sign in, so explained as a request without a session (groups: ${groups})`,
    };
  }
  return {
    identity: {
      id: user.id,
      username: user.username,
      email: user.email,
      name: user.name,
      groups: user.groups,
      anonymous: false,
    },
    description: `${user.email} (groups: ${groups})`,
  };
}

/** The memory store lives in the server's process: the CLI cannot read its users. */
export function subjectFromEmailOnly(email: string): ExplainSubject {
  return {
    identity: {
      id: '',
      username: initialUsername(null, email),
      email,
      name: '',
      groups: [],
      anonymous: false,
    },
    description: `${email} — the memory store cannot be read from here: explained as a signed-in user with this email and no groups`,
  };
}

export const NOBODY: ExplainSubject = {
  identity: null,
  description: 'nobody (a request without a session)',
};

/** A rule as it reads in the config file, on one line. */
export function writtenRule(spec: RuleSpec): string {
  return stringify(spec, {
    collectionStyle: 'flow',
    flowCollectionPadding: false,
    lineWidth: 0,
  }).trim();
}

function ruleName(index: number): string {
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

const FACTOR_WORDS: Record<FactorRequirement, string> = {
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

function reasons(
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

/** The lines `portcullis explain` prints (the admin panel shows the same facts). */
export function formatExplanation(explanation: Explanation, subject: ExplainSubject): string[] {
  const lines = [
    `URL:     ${explanation.url}`,
    `Method:  ${
      explanation.method === ''
        ? 'none given — the answer for a request whose method the proxy does not forward: the strictest any method gets'
        : explanation.method
    }`,
    `User:    ${subject.description}`,
    `Rule:    ${
      explanation.rule
        ? `access.rules[${explanation.rule.index}] ${explanation.rule.written}`
        : 'none matched: access.default_policy'
    }`,
    `Answer:  ${explanation.answer}`,
  ];
  if (explanation.require) {
    const factor = FACTOR_WORDS[explanation.require.factor];
    lines.push(
      `Needs:   ${factor} — ${explanation.require.stepUp ? `step_up: signed in, but the session must also show ${factor}` : 'the sign-in must include it'}`,
    );
  }
  explanation.why.forEach((line, i) => {
    lines.push(`${i === 0 ? 'Why:     ' : '         '}${line}`);
  });
  if (explanation.perMethod.length > 0) {
    lines.push('By method:');
    const other = explanation.perMethod.length - 1;
    explanation.perMethod.forEach((row, i) => {
      const label = i === other ? `${row.method} (any method no rule names)` : row.method;
      lines.push(`         ${label}: ${row.answer} (${ruleName(row.rule)})`);
    });
  }
  return lines;
}
