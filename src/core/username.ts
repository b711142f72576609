/**
 * Usernames (SPEC §4, docs/usernames.md): what the `user` identity headers carry by default, so
 * an app that creates accounts from `Remote-User` names them after the person, not a UUID.
 *
 * A username is NFKC-normalised, 1..64 code points of Unicode letters, combining marks, decimal
 * digits and `.` `_` `-` `@`, with at least one letter or digit. Everything else is refused:
 * whitespace and control characters (a header must not split or fold), `,` (list separator in
 * headers), `%` (so the percent-encoding `headerValue` applies to non-ASCII stays unambiguous),
 * `/`, `\`, `:` and quotes (apps use usernames in paths and URLs). Unique case-insensitively.
 */

export const USERNAME_MAX = 64;

const ALLOWED = /^[\p{L}\p{M}\p{Nd}._@-]+$/u;
const DISALLOWED_RUNS = /[^\p{L}\p{M}\p{Nd}._@-]+/gu;
const HAS_ALNUM = /[\p{L}\p{Nd}]/u;

export type UsernameProblem = 'empty' | 'too_long' | 'invalid_characters' | 'no_letter_or_digit';

export type UsernameCheck =
  | { ok: true; username: string }
  | { ok: false; problem: UsernameProblem };

/** What an admin typed, as it will be stored, or why it cannot be a username. */
export function checkUsername(input: string): UsernameCheck {
  const username = input.normalize('NFKC').trim();
  if (username === '') return { ok: false, problem: 'empty' };
  if ([...username].length > USERNAME_MAX) return { ok: false, problem: 'too_long' };
  if (!ALLOWED.test(username)) return { ok: false, problem: 'invalid_characters' };
  if (!HAS_ALNUM.test(username)) return { ok: false, problem: 'no_letter_or_digit' };
  return { ok: true, username };
}

/** The key uniqueness is decided on: `Alice` and `ALICE` are one username. */
export function usernameKey(username: string): string {
  return username.toLowerCase().normalize('NFKC');
}

/**
 * A valid username made from what an IdP or SCIM client sent (or an email's local part): each
 * run of characters a username may not hold becomes `-`, leading and trailing `-` go, and it is
 * cut to USERNAME_MAX. Null when nothing usable is left. Never refuses a sign-in: the caller
 * falls back to the email's local part, then to `user`.
 */
export function deriveUsername(raw: string | null | undefined): string | null {
  if (typeof raw !== 'string') return null;
  const replaced = raw
    .normalize('NFKC')
    .replace(DISALLOWED_RUNS, '-')
    .replace(/^-+|-+$/g, '');
  const cut = [...replaced].slice(0, USERNAME_MAX).join('');
  const check = checkUsername(cut.replace(/-+$/, ''));
  return check.ok ? check.username : null;
}

/** The username a new account starts with: the wanted one if usable, else the email's local part, else `user`. */
export function initialUsername(wanted: string | null | undefined, email: string): string {
  return deriveUsername(wanted) ?? deriveUsername(email.split('@')[0]) ?? 'user';
}

/**
 * The names tried, in order, when `base` is taken: `base`, `base-2`, … `base-50`, then `base-`
 * with a random suffix (`random` gives hex), each cut so it stays within USERNAME_MAX.
 */
export function* usernameCandidates(base: string, random: () => string): Generator<string> {
  yield base;
  const chars = [...base];
  const suffixed = (suffix: string) =>
    `${chars.slice(0, USERNAME_MAX - suffix.length).join('')}${suffix}`;
  for (let n = 2; n <= 50; n += 1) yield suffixed(`-${n}`);
  for (;;) yield suffixed(`-${random()}`);
}
