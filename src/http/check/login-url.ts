import { STEP_UP } from '../../core/decide.js';
import type { Answer } from './verdict.js';

/**
 * Where "log in" sends a person, back to `rd` afterwards. When `answer` is a step-up (a session
 * that lacks a factor a rule requires) the URL says which one (`step_up=passkey|mfa`), so the
 * login page asks for that factor instead of a new sign-in.
 */
export function loginUrl(baseUrl: string, rd: string | null, answer?: Answer): string {
  const stepUp =
    answer?.kind === 'login' && answer.reason === STEP_UP && answer.require !== undefined
      ? `step_up=${answer.require}`
      : null;
  const query = [rd === null ? null : `rd=${encodeURIComponent(rd)}`, stepUp].filter(
    (part) => part !== null,
  );
  return query.length === 0 ? `${baseUrl}/login` : `${baseUrl}/login?${query.join('&')}`;
}
