import type { Clock } from '../core/clock.js';
import type { Store, User } from '../ports/store.js';
import type { RateLimitRule } from '../services/rate-limit.js';
import {
  type AccountRefusal,
  type AccountSettings,
  readGroupsClaim,
  resolveAccount,
} from './oidc-account.js';
import type { VerifiedClaims } from './oidc-flow.js';

/** Sign-in starts per client address and minute, per method. */
export const START_LIMIT: RateLimitRule = { name: 'oidc:start', limit: 30, windowMs: 60_000 };

/** What one OIDC-based method decides about verified claims, beyond the account rules. */
export interface ClaimRules {
  account: AccountSettings;
  /** Claim whose values become the user's groups; null when the provider has none. */
  groupsClaim: string | null;
  /** A method's own refusal after the common checks (Google's hosted domains), or null. */
  checkClaims?: ((claims: VerifiedClaims) => string | null) | undefined;
}

export type SignInOutcome =
  /** `groups` is null when the method reads no groups claim (other sessions need no refresh). */
  | { ok: true; user: User; created: boolean; linked: boolean; groups: string[] | null }
  /** The method's own check refused; `text` is shown as it is. */
  | { ok: false; by: 'method'; text: string }
  | { ok: false; by: 'account'; reason: AccountRefusal };

/**
 * Claims whose absence from the ID token sends the flow to userinfo: a plain groups claim, never
 * a dotted one, which is a path inside another claim rather than a claim's name.
 */
export function wantedClaims(groupsClaim: string | null): string[] {
  return groupsClaim && !groupsClaim.includes('.') ? [groupsClaim] : [];
}

/** Verified claims to an account: the method's own check, then groups, then the account rules. */
export async function signInWithClaims(
  store: Store,
  clock: Clock,
  rules: ClaimRules,
  claims: VerifiedClaims,
): Promise<SignInOutcome> {
  const own = rules.checkClaims?.(claims) ?? null;
  if (own !== null) return { ok: false, by: 'method', text: own };
  const groups = rules.groupsClaim ? (readGroupsClaim(claims.raw, rules.groupsClaim) ?? []) : null;
  const outcome = await resolveAccount(store, clock, rules.account, claims, groups);
  if (!outcome.ok) return { ok: false, by: 'account', reason: outcome.reason };
  return { ...outcome, groups };
}
