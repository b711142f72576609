import { compileHostGlob } from './glob.js';

/**
 * Where a `rd` may send the browser after login (SPEC §3). Everything not provably ours falls
 * back to `/`: an open redirect on a login page is a phishing tool. A host is ours only on the
 * port something names: the default port of the `rd`'s scheme (rule hosts and cookie_domain name
 * no port) or public_url's; another port on the same host can be another party's service.
 */
export interface RedirectPolicy {
  /** Hosts that are ours exactly: public_url's host and hosts named in access rules. */
  exactHosts: ReadonlySet<string>;
  /** Suffix domains (from session.cookie_domain, without the leading dot): the domain or any subdomain. */
  domains: readonly string[];
  /** Glob host patterns from access rules, compiled. */
  hostPatterns: readonly RegExp[];
  /** Ports besides the scheme's default on which those hosts are ours: public_url's, if it names one. */
  ports?: readonly number[];
}

const DEFAULT_PORT: Record<string, number> = { http: 80, https: 443 };

/**
 * The policy for a deployment: public_url's host and port, every exact rule host, rule globs
 * anchored in a real domain, and the cookie domain with its subdomains.
 */
export function buildRedirectPolicy(
  publicUrl: URL,
  ruleHosts: readonly string[],
  cookieDomain: string | null,
): RedirectPolicy {
  const exactHosts = new Set<string>([publicUrl.hostname.toLowerCase().replace(/\.$/, '')]);
  const hostPatterns: RegExp[] = [];
  for (const host of ruleHosts) {
    if (host.includes('*')) {
      // A glob is a redirect target only when it is anchored in a real domain
      // (`*.example.com`): `*` or `*.com` would turn `rd` into an open redirect.
      const suffix = host.slice(host.lastIndexOf('*') + 1).replace(/\.$/, '');
      if (/^[.-][a-z0-9-]*\.[a-z0-9-]+\.[a-z0-9.-]+$|^\.[a-z0-9-]+\.[a-z0-9-]+$/i.test(suffix)) {
        hostPatterns.push(compileHostGlob(host));
      }
    } else exactHosts.add(host.toLowerCase().replace(/\.$/, ''));
  }
  const domains = cookieDomain ? [cookieDomain.replace(/^\./, '').toLowerCase()] : [];
  // URL drops a port equal to the scheme's default: what is left is a port public_url names.
  const ports = publicUrl.port === '' ? [] : [Number(publicUrl.port)];
  return { exactHosts, domains, hostPatterns, ports };
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
  const defaultPort = DEFAULT_PORT[(match[1] as string).toLowerCase()] as number;
  const port = hostMatch[2] === undefined ? defaultPort : Number(hostMatch[2]);
  if (port !== defaultPort && !(policy.ports ?? []).includes(port)) return '/';
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
