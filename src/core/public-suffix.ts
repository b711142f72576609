import { parse } from 'tldts';

/**
 * Why `domain` cannot be a cookie domain, or null when it can. A public suffix (ICANN's `co.uk`
 * and `com`, and the private ones such as `github.io`) is shared by sites of different owners:
 * browsers refuse cookies for it, and every site under it would count as ours for `rd`. The list
 * is the Public Suffix List as `tldts` ships it, private section included.
 */
export function cookieDomainProblem(domain: string): string | null {
  const name = domain.replace(/^\./, '').replace(/\.$/, '').toLowerCase();
  const parsed = parse(name, { allowPrivateDomains: true, extractHostname: false });
  if (parsed.isIp) return 'must be a domain name, not an IP address';
  if (parsed.domain === null || parsed.publicSuffix === name) {
    return `${name} is a public suffix (shared by sites of different owners); use a domain of your own under it, e.g. .example.${name}`;
  }
  return null;
}
