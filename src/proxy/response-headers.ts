/**
 * Hop-by-hop response fields (RFC 9110 §7.6.1): the body is re-framed for the client's
 * connection, so the upstream's framing and connection options stay behind.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'trailer',
  'upgrade',
  'proxy-authenticate',
]);
const HOP_BY_HOP_LENGTHS = new Set([...HOP_BY_HOP].map((name) => name.length));

/**
 * The upstream's response headers (as undici hands them over: raw name/value buffers) as a
 * flat `[name, value, …]` list for `writeHead`. Values stay latin1 byte-for-byte. When the
 * upstream sent `Transfer-Encoding`, any `Content-Length` beside it is dropped (RFC 9112
 * §6.3: the length is then not to be trusted).
 */
export function clientResponseHeaders(raw: readonly Buffer[], keepUpgrade = false): string[] {
  const out: string[] = [];
  let listed: Set<string> | null = null;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    // Only names as long as a hop-by-hop one need a lower-case copy.
    const lower = HOP_BY_HOP_LENGTHS.has(name.length) ? name.toLowerCase() : '';
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'transfer-encoding') chunked = true;
      else if (lower === 'connection') {
        for (const token of (raw[i + 1] as Buffer).toString('latin1').split(',')) {
          const option = token.trim().toLowerCase();
          if (option === '' || option === 'close' || option === 'keep-alive') continue;
          if (option === 'upgrade' && keepUpgrade) continue;
          listed ??= new Set();
          listed.add(option);
        }
        if (keepUpgrade) out.push(name, (raw[i + 1] as Buffer).toString('latin1'));
      } else if (lower === 'upgrade' && keepUpgrade) {
        out.push(name, (raw[i + 1] as Buffer).toString('latin1'));
      }
      continue;
    }
    out.push(name, (raw[i + 1] as Buffer).toString('latin1'));
  }
  if (listed === null && !chunked) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) {
    const lower = (out[i] as string).toLowerCase();
    if (listed?.has(lower) && lower !== 'upgrade') continue;
    if (chunked && lower === 'content-length') continue;
    kept.push(out[i] as string, out[i + 1] as string);
  }
  return kept;
}

/** The Content-Length in a header list, or -1 when absent or not a plain number. */
export function contentLength(headers: readonly string[]): number {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      const value = headers[i + 1] as string;
      return /^\d{1,15}$/.test(value) ? Number(value) : -1;
    }
  }
  return -1;
}
