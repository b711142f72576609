const TAB = 9;
const SPACE = 32;
const SEMICOLON = 59;
const EQUALS = 61;

function isBlank(code: number): boolean {
  return code === SPACE || code === TAB;
}

/**
 * Where the value of the next `name=` pair at or after `from` begins, or -1. A match counts only
 * at the start of a cookie-pair (after `;` or the header's start), never inside another value.
 * Blanks between the name and `=` still match, so that such a spelling is seen (see readCookie).
 */
function findPair(header: string, name: string, from: number): number {
  let at = header.indexOf(name, from);
  while (at !== -1) {
    let before = at - 1;
    while (before >= 0 && isBlank(header.charCodeAt(before))) before--;
    if (before < 0 || header.charCodeAt(before) === SEMICOLON) {
      let after = at + name.length;
      while (after < header.length && isBlank(header.charCodeAt(after))) after++;
      if (header.charCodeAt(after) === EQUALS) return after + 1;
    }
    at = header.indexOf(name, at + 1);
  }
  return -1;
}

/**
 * Reads one cookie from a Cookie header without building a map of all of them: this runs on
 * every auth check. A name that occurs more than once gives `undefined`, as if absent.
 *
 * Why not the first (or last) one: a sibling subdomain can plant a cookie of our name with
 * `Domain=` the parent, and the browser then sends both; RFC 6265 §5.4 orders them by path
 * length and creation time, which the planter controls, so neither position says which one we
 * set ("cookie tossing"). Node joins repeated `Cookie` headers with "; " (HTTP/2 sends one per
 * cookie), so one scan covers them. Names are compared exactly: cookie names are case-sensitive.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header || name === '') return undefined;
  const start = findPair(header, name, 0);
  if (start === -1) return undefined;
  let end = header.indexOf(';', start);
  if (end === -1) end = header.length;
  if (findPair(header, name, end) !== -1) return undefined;
  // `name =v` is no browser's spelling (they strip the blank when the cookie is set), but some
  // parsers read it as `name`: alone it is not our cookie, beside ours it is a second one.
  if (isBlank(header.charCodeAt(start - 2))) return undefined;
  let first = start;
  let last = end;
  while (first < last && isBlank(header.charCodeAt(first))) first++;
  while (last > first && isBlank(header.charCodeAt(last - 1))) last--;
  // RFC 6265 §4.1.1 allows a value in double quotes; the quotes are not part of it.
  if (last - first >= 2 && header.charCodeAt(first) === 34 && header.charCodeAt(last - 1) === 34) {
    first++;
    last--;
  }
  return header.slice(first, last);
}

export interface CookieOptions {
  maxAgeSeconds?: number;
  domain?: string | null;
  secure: boolean;
  httpOnly?: boolean;
  sameSite?: 'Lax' | 'Strict';
  path?: string;
}

export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  const parts = [`${name}=${value}`, `Path=${options.path ?? '/'}`];
  if (options.maxAgeSeconds !== undefined) parts.push(`Max-Age=${options.maxAgeSeconds}`);
  if (options.domain) parts.push(`Domain=${options.domain}`);
  if (options.httpOnly !== false) parts.push('HttpOnly');
  if (options.secure) parts.push('Secure');
  parts.push(`SameSite=${options.sameSite ?? 'Lax'}`);
  return parts.join('; ');
}
