/** The longest group name the admin panel accepts, in characters (code points). */
export const GROUP_NAME_MAX = 64;

export type GroupNameCheck = { ok: true; name: string } | { ok: false; message: string };

/*
 * Control characters (C0, DEL, C1) would break or forge header lines; format characters (bidi
 * overrides, zero-width joiners) make two names look alike on the panel; lone surrogates are
 * not text. `\p{Cs}` with the `u` flag matches only unpaired surrogates.
 */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

/**
 * A group name an admin typed, trimmed, or why it cannot be one. A comma is refused because
 * `Remote-Groups` / `X-Auth-Request-Groups` are comma-separated lists: a member of `a,b` would
 * reach apps as a member of `a` and of `b`. Names are otherwise free text (non-ASCII reaches
 * headers percent-encoded); uniqueness is the caller's.
 */
export function checkGroupName(raw: string): GroupNameCheck {
  const name = raw.trim();
  const length = [...name].length;
  if (length === 0) return { ok: false, message: 'Give the group a name.' };
  if (length > GROUP_NAME_MAX)
    return { ok: false, message: `A group name has at most ${GROUP_NAME_MAX} characters.` };
  if (name.includes(','))
    return {
      ok: false,
      message: 'A group name cannot contain a comma (the groups header is comma-separated).',
    };
  if (FORBIDDEN.test(name))
    return {
      ok: false,
      message: 'A group name cannot contain control or invisible formatting characters.',
    };
  return { ok: true, name };
}
