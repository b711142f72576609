import type { Checked } from './admission.js';

export interface UpstreamHeaderDeps {
  /** `proxy.preserve_host`: pass the client's Host on instead of the upstream's. */
  preserveHost: boolean;
  /** The upstream's `host[:port]`, sent as Host unless `preserveHost`. */
  upstreamHost: string;
}

/**
 * The headers sent upstream: the client's (filtered), forwarding headers, then identity. Appends
 * to the scan's own list, which belongs to this one request.
 */
export function upstreamHeaders(
  deps: UpstreamHeaderDeps,
  checked: Checked,
  identity: readonly string[] | null,
): string[] {
  const { scan, target } = checked;
  const headers = scan.headers;
  headers.push(
    'host',
    deps.preserveHost ? (scan.host ?? `${target.host}${target.port}`) : deps.upstreamHost,
    'x-forwarded-for',
    scan.forwardedFor === undefined ? checked.peer : `${scan.forwardedFor}, ${checked.peer}`,
    'x-forwarded-proto',
    target.scheme,
    'x-forwarded-host',
    scan.forwardedHost ?? scan.host ?? target.host,
  );
  if (identity !== null) {
    for (let i = 0; i < identity.length; i++) headers.push(identity[i] as string);
  }
  return headers;
}

/**
 * Removes the header lines that held a portcullis app token (`strip`, lower-case names) from the
 * headers passed on: the app never sees the token. Every other line, any other Authorization
 * included, stays as the client sent it.
 */
export function stripCredentials(checked: Checked, strip: readonly string[]): void {
  if (strip.length === 0) return;
  const headers = checked.scan.headers;
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (!strip.includes(name.toLowerCase())) kept.push(name, headers[i + 1] as string);
  }
  checked.scan.headers = kept;
}
