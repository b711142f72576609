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

export type UsernameProblem =
  | 'empty'
  | 'too_long'
  | 'invalid_characters'
  | 'no_letter_or_digit'
  /** The name another identity already answers to: `anonymous_user.id` (any case). */
  | 'reserved';

export type UsernameCheck =
  | { ok: true; username: string }
  | { ok: false; problem: UsernameProblem };

/**
 * What an admin typed, as it will be stored, or why it cannot be a username. `reserved` names
 * (compared as `usernameKey`) are refused: in anonymous mode `anonymous_user.id` is what the
 * user headers carry for everyone not signed in, so no real account may carry it too.
 */
export function checkUsername(input: string, reserved: readonly string[] = []): UsernameCheck {
  const username = input.normalize('NFKC').trim();
  if (username === '') return { ok: false, problem: 'empty' };
  if ([...username].length > USERNAME_MAX) return { ok: false, problem: 'too_long' };
  if (!ALLOWED.test(username)) return { ok: false, problem: 'invalid_characters' };
  if (!HAS_ALNUM.test(username)) return { ok: false, problem: 'no_letter_or_digit' };
  if (isReserved(username, reserved)) return { ok: false, problem: 'reserved' };
  return { ok: true, username };
}

function isReserved(username: string, reserved: readonly string[]): boolean {
  if (reserved.length === 0) return false;
  const key = usernameKey(username);
  return reserved.some((name) => usernameKey(name) === key);
}

/** Why a username was refused, in words for a form. */
export function usernameProblemText(problem: UsernameProblem): string {
  switch (problem) {
    case 'empty':
      return 'A username cannot be empty.';
    case 'too_long':
      return `A username is at most ${USERNAME_MAX} characters.`;
    case 'invalid_characters':
      return 'A username may hold only letters, digits and . _ - @ (no spaces, commas, % / \\ : or quotes).';
    case 'no_letter_or_digit':
      return 'A username needs at least one letter or digit.';
    case 'reserved':
      return 'That name is reserved for people who are not signed in (anonymous_user.id).';
  }
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
export function deriveUsername(
  raw: string | null | undefined,
  reserved: readonly string[] = [],
): string | null {
  if (typeof raw !== 'string') return null;
  const replaced = raw
    .normalize('NFKC')
    .replace(DISALLOWED_RUNS, '-')
    .replace(/^-+|-+$/g, '');
  const cut = [...replaced].slice(0, USERNAME_MAX).join('');
  const check = checkUsername(cut.replace(/-+$/, ''), reserved);
  return check.ok ? check.username : null;
}

/**
 * The username a new account starts with: the wanted one if usable, else the email's local
 * part, else `user` (`user-2`, … when `user` itself is reserved). A reserved name counts as
 * unusable.
 */
export function initialUsername(
  wanted: string | null | undefined,
  email: string,
  reserved: readonly string[] = [],
): string {
  const derived = deriveUsername(wanted, reserved) ?? deriveUsername(email.split('@')[0], reserved);
  if (derived) return derived;
  for (const candidate of usernameCandidates('user', () => '0', reserved)) return candidate;
  return 'user';
}

/**
 * The names tried, in order, when `base` is taken: `base`, `base-2`, … `base-50`, then `base-`
 * with a random suffix (`random` gives hex), each cut so it stays within USERNAME_MAX.
 */
export function* usernameCandidates(
  base: string,
  random: () => string,
  reserved: readonly string[] = [],
): Generator<string> {
  const chars = [...base];
  const suffixed = (suffix: string) =>
    `${chars.slice(0, USERNAME_MAX - suffix.length).join('')}${suffix}`;
  const all = function* () {
    yield base;
    for (let n = 2; n <= 50; n += 1) yield suffixed(`-${n}`);
    for (;;) yield suffixed(`-${random()}`);
  };
  for (const candidate of all()) if (!isReserved(candidate, reserved)) yield candidate;
}
