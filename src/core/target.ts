/**
 * The URL a proxied request was for, taken apart once at the edge so the rule engine sees
 * plain data. The raw form is kept for `rd`; the normalised forms are for matching only.
 */
export interface Target {
  /** `https` or `http`. */
  scheme: 'http' | 'https';
  /** Lower-cased, without a trailing dot, without the port. */
  host: string;
  /** `:8443` or an empty string. */
  port: string;
  /** The path as the proxy sent it (no query, no fragment). */
  rawPath: string;
  /** The query without `?`, or an empty string. */
  query: string;
  /** Path after RFC 3986 §6.2.2 normalisation: unreserved escapes decoded once, dot segments removed, repeated slashes collapsed. */
  path: string;
  /**
   * The path as a lenient upstream might read it: every escape decoded (up to three rounds),
   * a decoded `?` or `#` ending it, backslashes as slashes, `;` parameters dropped. Rules are
   * also matched against it, case-insensitively (some upstreams ignore case), and the stricter
   * of the two answers wins.
   */
  loosePath: string;
  /**
   * True when the raw path holds something that upstreams split or decode differently: an
   * encoded `/`, `\`, `;`, `?`, `#`, `%` (double encoding) or NUL, a raw `\` or `;`, or a
   * dot segment (browsers resolve those before sending; an Express app routes
   * `/admin/../public` under `/admin`). No `bypass` rule lets an ambiguous path through.
   */
  ambiguous: boolean;
  /**
   * The method the proxy forwarded, upper-case; an empty string when it sent none. An unknown
   * method is not a GET: `decide` gives it the strictest answer any method would get.
   */
  method: string;
}

// RFC 3986 §2.3 unreserved characters.
const UNRESERVED = /[A-Za-z0-9\-._~]/;
// Hosts: DNS names, IPv4, or a bracketed IPv6 literal, with an optional port.
const HOST_RE =
  /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?)(?::(\d{1,5}))?$/;
// Anything a URL on the wire must not carry raw: controls, space, DEL, and non-ASCII.
const FORBIDDEN_IN_URL = /[^\u0021-\u007e]/;
// See `Target.ambiguous`. An encoded space or `é` is not here: every reading agrees on those.
// Encoded control characters (`%09`, `%0a`, `%00`, `%7f`) are: upstreams trim, split or stop at them.
const STRUCTURAL_IN_PATH =
  /%(?:2f|5c|3b|3f|23|25|[01][0-9a-f]|7f)|[\\;]|(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;
// A run of escapes that may hold bytes of a multi-byte UTF-8 sequence.
const HIGH_ESCAPE = /%[89a-f][0-9a-f]/i;
const ESCAPE_RUN = /(?:%[0-9a-f]{2})+/gi;
// Whitespace (Unicode's too: Python's strip() drops U+3000), control and zero-width characters,
// which lenient upstreams trim or drop from a path.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const BLANKS = /[\s\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2060\ufeff]+/g;
// Overlong UTF-8 forms of ASCII (`\xc0\xae` is `.`), as a lenient decoder reads them.
const OVERLONG = /[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f][\x80-\xbf]/g;

export type TargetResult = { ok: true; target: Target } | { ok: false; reason: string };

/** Parses `host[:port]` as a proxy reports it. */
export function parseHost(value: string): { host: string; port: string } | null {
  const match = HOST_RE.exec(value);
  if (!match) return null;
  const port = match[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return null;
  let host = (match[1] as string).toLowerCase();
  while (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '' || host.includes('..')) return null;
  return { host, port: port ? `:${port}` : '' };
}

/** Builds a target from the parts a proxy forwards; `uri` is the request-target (`/path?query`). */
export function buildTarget(
  scheme: string,
  hostHeader: string,
  uri: string,
  method: string,
): TargetResult {
  const lowerScheme = scheme.toLowerCase();
  if (lowerScheme !== 'http' && lowerScheme !== 'https') return { ok: false, reason: 'scheme' };
  const host = parseHost(hostHeader);
  if (!host) return { ok: false, reason: 'host' };
  if (!uri.startsWith('/') || FORBIDDEN_IN_URL.test(uri) || uri.length > 8192) {
    return { ok: false, reason: 'uri' };
  }
  if (method !== '' && !/^[A-Z]{1,16}$/.test(method)) return { ok: false, reason: 'method' };
  let rest = uri;
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const rawPath = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q + 1);
  // Overlong or otherwise invalid UTF-8 (`%c0%ae` is `.` to a lenient decoder, nothing to a strict
  // one) has no single reading: refuse it rather than guess which one the upstream takes.
  if (HIGH_ESCAPE.test(rawPath) && !isValidUtf8Escapes(rawPath)) {
    return { ok: false, reason: 'invalid UTF-8 in path' };
  }
  const path = normalizePath(rawPath);
  return {
    ok: true,
    target: {
      scheme: lowerScheme,
      host: host.host,
      port: host.port,
      rawPath,
      query,
      path,
      loosePath: loosenPath(rawPath),
      ambiguous: STRUCTURAL_IN_PATH.test(rawPath),
      method,
    },
  };
}

/** Parses an absolute `http(s)://host/path?query` URL, as nginx sends in `X-Original-URL`. */
export function parseAbsoluteTarget(url: string, method: string): TargetResult {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(url);
  if (!match) return { ok: false, reason: 'url' };
  const authority = match[2] as string;
  // Userinfo in a target (`https://good@evil/`) is never legitimate from a proxy.
  if (authority.includes('@')) return { ok: false, reason: 'userinfo' };
  const rest = match[3] as string;
  // `http://host?q` and `http://host#f` have an empty path, which means `/` (RFC 3986 §6.2.3).
  const uri = rest === '' || rest.startsWith('?') || rest.startsWith('#') ? `/${rest}` : rest;
  return buildTarget(match[1] as string, authority, uri, method);
}

/** The original URL, as the browser asked for it, for the login page's `rd`. */
export function targetUrl(target: Target): string {
  return `${target.scheme}://${target.host}${target.port}${target.rawPath}${target.query ? `?${target.query}` : ''}`;
}

function decodeUnreserved(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_whole, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/** RFC 3986 §5.2.4 remove_dot_segments, plus collapsing of empty segments. */
function resolveDots(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === '..') {
      out.pop();
      if (last) out.push('');
    } else if (segment === '.') {
      if (last) out.push('');
    } else if (segment === '') {
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  }
  return `/${out.join('/')}`;
}

export function normalizePath(rawPath: string): string {
  return resolveDots(decodeUnreserved(rawPath === '' ? '/' : rawPath));
}

/**
 * Whether every run of percent-escapes decodes as UTF-8. `decodeURIComponent` refuses overlong
 * forms, surrogates and stray continuation bytes (ECMA-262 Decode); raw non-ASCII never gets
 * here (`FORBIDDEN_IN_URL`), so a multi-byte character is always one run of escapes.
 */
function isValidUtf8Escapes(rawPath: string): boolean {
  const runs = rawPath.match(ESCAPE_RUN);
  if (runs === null) return true;
  for (const run of runs) {
    try {
      decodeURIComponent(run);
    } catch {
      return false;
    }
  }
  return true;
}

function readOverlong(bytes: string): string {
  const b0 = bytes.charCodeAt(0);
  const b1 = bytes.charCodeAt(1) & 0x3f;
  if (bytes.length === 2) return String.fromCharCode(((b0 & 0x1f) << 6) | b1);
  return String.fromCharCode(((b0 & 0x0f) << 12) | (b1 << 6) | (bytes.charCodeAt(2) & 0x3f));
}

function loosenPath(rawPath: string): string {
  let path = rawPath === '' ? '/' : rawPath;
  for (let round = 0; round < 3 && /%[0-9A-Fa-f]{2}/.test(path); round++) {
    path = path.replace(/%([0-9A-Fa-f]{2})/g, (_w, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
  }
  // The bytes as UTF-8, with overlong forms read as the ASCII they spell (escapes that were
  // double-encoded get here; single-encoded ones were refused in buildTarget).
  if (/[\x80-\xff]/.test(path)) {
    path = Buffer.from(path.replace(OVERLONG, readOverlong), 'latin1').toString('utf8');
  }
  // An upstream that decodes before it splits sees a decoded `?` or `#` end the path.
  path = path.replace(/[?#].*$/s, '');
  path = path.replace(/\\/g, '/').replace(/;[^/]*/g, '');
  // Upstreams that trim or drop whitespace and control characters read `/admin%20` and
  // `/ad%09min` as `/admin`; so do the rules in this reading. Trailing dots too (`/admin.`
  // is `/admin` to Windows-backed servers), except in dot segments.
  path = path.replace(BLANKS, '').replace(/([^/.])\.+(?=\/|$)/g, '$1');
  if (!path.startsWith('/')) path = `/${path}`;
  return resolveDots(path);
}
