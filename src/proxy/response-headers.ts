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
    const name = latin1(raw[i] as Buffer, NAMES);
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
        if (keepUpgrade) out.push(name, latin1(raw[i + 1] as Buffer, VALUES));
      } else if (lower === 'upgrade' && keepUpgrade) {
        out.push(name, latin1(raw[i + 1] as Buffer, VALUES));
      }
      continue;
    }
    out.push(name, latin1(raw[i + 1] as Buffer, VALUES));
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

/**
 * Strings already made from short header names and values, by their bytes. Upstream answers
 * repeat the same few (`Content-Type`, `text/html; charset=utf-8`, `Content-Length`), and a
 * native latin1 decode per buffer cost more than hashing and comparing a few bytes in JS. Each
 * table is direct-mapped (a new string takes its slot), so it stays this size whatever the
 * upstream sends; a hit is only returned after a byte-for-byte comparison.
 */
const SLOTS = 256;
const MAX_CACHED_LENGTH = 40;
const NAMES = new Array<string | undefined>(SLOTS);
const VALUES = new Array<string | undefined>(SLOTS);

function latin1(buf: Buffer, table: (string | undefined)[]): string {
  const length = buf.length;
  if (length > MAX_CACHED_LENGTH) return buf.toString('latin1');
  let hash = length;
  for (let i = 0; i < length; i++) hash = (Math.imul(hash, 31) + (buf[i] as number)) | 0;
  const slot = hash & (SLOTS - 1);
  const known = table[slot];
  if (known !== undefined && known.length === length) {
    let i = 0;
    while (i < length && known.charCodeAt(i) === buf[i]) i++;
    if (i === length) return known;
  }
  const text = buf.toString('latin1');
  table[slot] = text;
  return text;
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
