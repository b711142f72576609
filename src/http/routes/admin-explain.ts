import type { AccessPolicy } from '../../core/decide.js';
import { explain } from '../../core/explain.js';
import { subjectFromUser } from '../../core/explain-subject.js';
import type { Identity } from '../../core/identity.js';
import type { RuleSpec } from '../../core/rules.js';
import { parseAbsoluteTarget } from '../../core/target.js';
import type { User } from '../../ports/store.js';
import type { AdminExplain } from '../views/admin-page.js';

/** What "Explain access" evaluates: the policy the checks use and the rules as written. */
export interface ExplainPolicy {
  policy: AccessPolicy;
  /** `access.rules` as configured, to show the rule that matched. */
  rules: readonly RuleSpec[];
  anonymousUser: Identity;
}

/** The same explanation as `portcullis explain`, for the user on the page. */
export function explainFor(
  policy: ExplainPolicy,
  user: User,
  asked: { url: string; method: string },
): AdminExplain {
  const method = asked.method.toUpperCase();
  if (!/^[A-Z]{0,16}$/.test(method)) {
    return { ...asked, error: 'That is not an HTTP method.' };
  }
  const parsed = parseAbsoluteTarget(asked.url, method);
  if (!parsed.ok) {
    return {
      ...asked,
      error: `A check would refuse this URL (${parsed.reason}): use a full http:// or https:// URL.`,
    };
  }
  const subject = subjectFromUser(user.email, user);
  return {
    ...asked,
    result: explain(policy.policy, policy.rules, parsed.target, subject, policy.anonymousUser),
  };
}
