/**
 * Where a `rd` may send the browser after login (SPEC §3). Everything not provably ours falls
 * back to `/`: an open redirect on a login page is a phishing tool.
 */
export interface RedirectPolicy {
  /** Hosts that are ours exactly: public_url's host and hosts named in access rules. */
  exactHosts: ReadonlySet<string>;
  /** Suffix domains (from session.cookie_domain, without the leading dot): the domain or any subdomain. */
  domains: readonly string[];
  /** Glob host patterns from access rules, compiled. */
  hostPatterns: readonly RegExp[];
}

const ABSOLUTE = /^(https?):\/\/([^/?#\\]*)([/?#].*)?$/i;
// Anything but printable ASCII: control characters, whitespace and non-ASCII are not legal raw
// in a URL; browsers strip or reinterpret several of them (tabs and newlines inside `//`,
// fullwidth slashes and ideographic dots through IDNA mapping), and Node refuses to put
// characters above U+00FF in a Location header at all.
const UNSAFE_CHARS = /[^\u0021-\u007e]/;
// A DNS name of non-empty labels (one trailing dot allowed) or a bracketed IPv6 literal, with an
// optional port. `.example.com` has an empty label and is not a subdomain of example.com.
const HOST_PORT = /^((?:[a-z0-9_-]+\.)*[a-z0-9_-]+\.?|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/i;

export function safeRedirect(rd: string | undefined | null, policy: RedirectPolicy): string {
  if (!rd || rd.length > 4096) return '/';
  if (UNSAFE_CHARS.test(rd) || rd.includes('\\')) return '/';
  if (rd.startsWith('/')) {
    // `//host` and `/\host` are protocol-relative in browsers.
    if (rd.startsWith('//')) return '/';
    if (/%2f|%5c/i.test(rd.slice(0, 4))) return '/';
    return rd;
  }
  const match = ABSOLUTE.exec(rd);
  if (!match) return '/';
  const authority = match[2] as string;
  if (authority.includes('@') || authority.includes('%')) return '/';
  const hostMatch = HOST_PORT.exec(authority);
  if (!hostMatch) return '/';
  let host = (hostMatch[1] as string).toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (!isOurHost(host, policy)) return '/';
  return rd;
}

export function isOurHost(host: string, policy: RedirectPolicy): boolean {
  if (host === '') return false;
  if (policy.exactHosts.has(host)) return true;
  for (const domain of policy.domains) {
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  for (const pattern of policy.hostPatterns) {
    if (pattern.test(host)) return true;
  }
  return false;
}
