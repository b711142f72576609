import type { Identity } from './identity.js';

/** `headers.user_value`: what the `user` headers carry. */
export type UserValue = 'username' | 'email' | 'id';

export interface HeaderNames {
  user: readonly string[];
  /** What the `user` headers carry; absent: `username`. */
  userValue?: UserValue;
  email: readonly string[];
  name: readonly string[];
  groups: readonly string[];
  /** The only groups the `groups` headers carry; absent or null: all of them. */
  groupsFilter?: ReadonlySet<string> | null;
}

/**
 * `headers.groups_filter` as a set: `rules`, the groups the access rules name; a list, those;
 * null, no filter. A user in hundreds of directory groups otherwise sends them all on every
 * answer, past nginx's `proxy_buffer_size` (issue 11, finding 2) and into every upstream request.
 */
export function groupsFilterFrom(
  setting: 'rules' | readonly string[] | null,
  rules: readonly { groups?: readonly string[] | undefined }[],
): ReadonlySet<string> | null {
  if (setting === null) return null;
  if (setting === 'rules') return new Set(rules.flatMap((rule) => rule.groups ?? []));
  return new Set(setting);
}

const ALIASING = /[^a-z0-9-]/;
const ALIASING_ALL = /[^a-z0-9-]/g;

/**
 * A header name as a CGI-style upstream reads it (WSGI, PHP, Rack, nginx's `$http_*`): lower
 * case, and every token character that is not a letter, digit or `-` (`_`, `.`, `~`, `!`, …)
 * read as `-`. For such an app `X_Auth_Request_User`, `x.auth.request.user` and
 * `X-Auth-Request-User` are one header, so identity names are compared in this form.
 */
export function headerAlias(name: string): string {
  const lower = name.toLowerCase();
  return ALIASING.test(lower) ? lower.replace(ALIASING_ALL, '-') : lower;
}

/**
 * Identity headers some proxy or app trusts, whatever `headers:` says, in `headerAlias` form:
 * Authelia's and portcullis' `Remote-*`, oauth2-proxy's `X-Auth-Request-*` (answers to
 * `auth_request`) and its upstream names (`X-Forwarded-User`, …, `GAP-Auth`). No client may
 * send any of them to the app.
 */
const IDENTITY_FAMILY = new Set([
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
  'x-forwarded-access-token',
  'gap-auth',
]);
const IDENTITY_PREFIXES = ['remote-', 'x-auth-request-'];

/** Whether `alias` (a `headerAlias` result) names an identity header of a known family. */
export function isIdentityFamily(alias: string): boolean {
  if (IDENTITY_FAMILY.has(alias)) return true;
  for (const prefix of IDENTITY_PREFIXES) if (alias.startsWith(prefix)) return true;
  return false;
}

/**
 * Header values must be visible ASCII (RFC 9110 §5.5): a raw newline would split the header
 * block and a non-Latin-1 character makes Node throw. Anything else is percent-encoded as UTF-8.
 */
export function headerValue(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    out += code >= 0x20 && code <= 0x7e && code !== 0x25 ? char : encodeURIComponent(char);
  }
  return out;
}

/**
 * The value of the `user` headers. `username` by default: apps that create accounts from
 * `Remote-User` (Grafana's auth proxy, Gitea, Paperless) then name them after the person; `id`
 * is the internal UUID, which never changes (what portcullis sent before usernames).
 */
export function userHeaderValue(identity: Identity, value: UserValue): string {
  if (value === 'email') return identity.email;
  if (value === 'id') return identity.id;
  return identity.username;
}

/**
 * Flat `[name, value, name, value…]` list of identity headers, ready for `writeHead`. Callers
 * cache it per session, so the groups filter runs once per session, not once per check.
 */
export function identityHeaders(names: HeaderNames, identity: Identity): string[] {
  const out: string[] = [];
  const add = (list: readonly string[], value: string) => {
    for (const name of list) out.push(name, value);
  };
  add(names.user, headerValue(userHeaderValue(identity, names.userValue ?? 'username')));
  add(names.email, headerValue(identity.email));
  add(names.name, headerValue(identity.name));
  if (names.groups.length > 0) {
    const only = names.groupsFilter;
    const groups = identity.groups.filter((g) => !g.includes(',') && (!only || only.has(g)));
    add(names.groups, headerValue(groups.join(',')));
  }
  return out;
}
