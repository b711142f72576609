import { type HeaderNames, headerAlias, isIdentityFamily } from '../core/identity-headers.js';

/**
 * What happens to a client's request header on its way to the upstream. HTTP semantics
 * (framing, Host, Cookie, forwarding) go by the exact name, compared lower-cased. CGI-style
 * upstreams (WSGI, PHP, Rack) also read `Remote_User` and `Remote.User` as `Remote-User`
 * (`HTTP_REMOTE_USER`), so any other spelling of a name the proxy handles is dropped, never
 * believed, and identity headers are dropped in every spelling (`headerAlias`), from trusted
 * peers too: a front proxy passes its clients' headers on.
 */
const KEEP = 0;
const DROP = 1;
const HOST = 2;
const COOKIE = 3;
const CONNECTION = 4;
const XFF = 5;
const XFP = 6;
const XFH = 7;
/** Forwarding headers believed only from `server.trusted_proxies`. */
const FORWARDING = 8;
const CONTENT_LENGTH = 9;
const TRANSFER_ENCODING = 10;

type Kind =
  | typeof KEEP
  | typeof DROP
  | typeof HOST
  | typeof COOKIE
  | typeof CONNECTION
  | typeof XFF
  | typeof XFP
  | typeof XFH
  | typeof FORWARDING
  | typeof CONTENT_LENGTH
  | typeof TRANSFER_ENCODING;

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1) describe one connection, not the message: `Connection`
 * and the fields it lists, `Keep-Alive`, `Proxy-Connection`, `TE`, `Transfer-Encoding` (the
 * body is re-framed on the upstream connection), `Upgrade` (WebSocket upgrades set their own),
 * `Trailer` (trailers are not forwarded). `Expect` is answered here (Node sends `100 Continue`),
 * and `Proxy-Authorization` was meant for a proxy, not for the app.
 */
const HOP_BY_HOP = [
  'keep-alive',
  'proxy-connection',
  'te',
  'upgrade',
  'trailer',
  'expect',
  'proxy-authorization',
  'http2-settings',
];

const UNTRUSTED_FORWARDING = [
  'forwarded',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-ssl',
  'x-real-ip',
  'x-client-ip',
  'x-original-url',
  'x-original-uri',
  'x-original-method',
  'x-original-host',
  'x-original-forwarded-for',
];

/** Raw spellings remembered by `RequestHeaderPolicy.kind`; past this, new ones are not kept. */
const MAX_SPELLINGS = 512;

/** A classifier built once from the config: name → what to do with it. */
export class RequestHeaderPolicy {
  private readonly kinds = new Map<string, Kind>();
  /**
   * The answer for each exact spelling seen on the wire (`User-Agent`, `user-agent`, …): HTTP/1.1
   * clients mostly send Title-Case names, and canonicalising each one allocated a lower-case copy
   * per header per request. The answer depends on the name alone, so remembering it by exact
   * spelling changes nothing; bounded so a client inventing names cannot grow it.
   */
  private readonly spellings = new Map<string, Kind>();

  /**
   * `tokenHeader`: `tokens.header` when app tokens are on. It is portcullis' own and never reaches
   * the app, in any spelling, whatever it holds.
   */
  constructor(
    identityNames: HeaderNames,
    readonly cookieName: string,
    tokenHeader: string | null = null,
  ) {
    for (const name of HOP_BY_HOP) this.kinds.set(name, DROP);
    for (const name of UNTRUSTED_FORWARDING) this.kinds.set(name, FORWARDING);
    this.kinds.set('host', HOST);
    this.kinds.set('cookie', COOKIE);
    this.kinds.set('connection', CONNECTION);
    this.kinds.set('x-forwarded-for', XFF);
    this.kinds.set('x-forwarded-proto', XFP);
    this.kinds.set('x-forwarded-host', XFH);
    this.kinds.set('content-length', CONTENT_LENGTH);
    this.kinds.set('transfer-encoding', TRANSFER_ENCODING);
    // Identity headers last: a configured name always wins (it is set by us, never passed on).
    for (const list of [
      identityNames.user,
      identityNames.email,
      identityNames.name,
      identityNames.groups,
    ]) {
      for (const name of list) this.kinds.set(headerAlias(name), DROP);
    }
    if (tokenHeader !== null) this.kinds.set(headerAlias(tokenHeader), DROP);
  }

  kind(name: string): Kind {
    const known = this.spellings.get(name);
    if (known !== undefined) return known;
    const kind = this.classify(name);
    if (this.spellings.size < MAX_SPELLINGS) this.spellings.set(name, kind);
    return kind;
  }

  private classify(name: string): Kind {
    const lower = name.toLowerCase();
    const exact = this.kinds.get(lower);
    if (exact !== undefined) return exact;
    const alias = headerAlias(lower);
    if (isIdentityFamily(alias)) return DROP;
    // `X_Forwarded_Host`, `Content.Length`, `Remote_User` (configured): an alias of a name the
    // proxy reads or sets. The upstream would read it as the real one; the proxy does not.
    if (alias !== lower && this.kinds.has(alias)) return DROP;
    return KEEP;
  }
}

/** The client's request as the proxy needs it, read in one pass over `rawHeaders`. */
export interface ScannedRequest {
  /** Headers to pass on, `[name, value, …]`, original spelling. */
  headers: string[];
  host: string | undefined;
  /** The whole Cookie header (repeated headers joined), for the session lookup. */
  cookie: string | undefined;
  forwardedFor: string | undefined;
  forwardedProto: string | undefined;
  forwardedHost: string | undefined;
  /** A body follows (chunked, or a non-zero Content-Length; Node has rejected both at once). */
  hasBody: boolean;
  /** The request's framing cannot be passed on safely: why, or null. */
  malformed: string | null;
}

/**
 * Splits the client's headers into what is passed on and what the proxy itself reads. The
 * session cookie is removed from the `Cookie` header passed on: the app has no use for it and
 * must not be able to leak it. Fields named by `Connection` are dropped afterwards (they may
 * come before it).
 */
export function scanRequestHeaders(
  raw: readonly string[],
  policy: RequestHeaderPolicy,
  trusted: boolean,
): ScannedRequest {
  const headers: string[] = [];
  const out: ScannedRequest = {
    headers,
    host: undefined,
    cookie: undefined,
    forwardedFor: undefined,
    forwardedProto: undefined,
    forwardedHost: undefined,
    hasBody: false,
    malformed: null,
  };
  let listed: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    switch (policy.kind(name)) {
      case KEEP:
        headers.push(name, value);
        break;
      case HOST:
        // RFC 9112 §3.2: more than one Host is answered 400 (Node would keep the first).
        if (out.host === undefined) out.host = value;
        else out.malformed = 'more than one Host header';
        break;
      case COOKIE: {
        out.cookie = out.cookie === undefined ? value : `${out.cookie}; ${value}`;
        const kept = withoutCookie(value, policy.cookieName);
        if (kept !== '') headers.push(name, kept);
        break;
      }
      case CONNECTION:
        for (const token of value.split(',')) {
          const option = token.trim().toLowerCase();
          if (
            option !== '' &&
            option !== 'keep-alive' &&
            option !== 'close' &&
            option !== 'upgrade'
          ) {
            if (listed === null) listed = [];
            listed.push(headerAlias(option));
          }
        }
        break;
      case XFF:
        if (trusted) out.forwardedFor = joinValue(out.forwardedFor, value);
        break;
      case XFP:
        if (trusted && out.forwardedProto === undefined) out.forwardedProto = firstToken(value);
        break;
      case XFH:
        if (trusted && out.forwardedHost === undefined) out.forwardedHost = firstToken(value);
        break;
      case FORWARDING:
        if (trusted) headers.push(name, value);
        break;
      case CONTENT_LENGTH:
        headers.push(name, value);
        if (value !== '0') out.hasBody = true;
        break;
      case TRANSFER_ENCODING:
        // Re-framed on the upstream connection (undici sends chunked for a stream body). Node
        // hands over a request with a coding it cannot read (`xchunked`) before failing on its
        // body; such a request must never start upstream (RFC 9112 §6.1: answer 501).
        out.hasBody = true;
        if (value.trim().toLowerCase() !== 'chunked')
          out.malformed = 'unsupported Transfer-Encoding';
        break;
      default:
        break;
    }
  }
  if (listed !== null) {
    const drop = new Set(listed);
    const kept: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      const canonical = headerAlias(name);
      // Never let `Connection` remove what the proxy itself relies on passing (framing).
      if (!drop.has(canonical) || canonical === 'content-length' || canonical === 'content-type') {
        kept.push(name, headers[i + 1] as string);
      }
    }
    out.headers = kept;
  }
  return out;
}

function joinValue(existing: string | undefined, value: string): string {
  return existing === undefined ? value : `${existing}, ${value}`;
}

function firstToken(value: string): string {
  const comma = value.indexOf(',');
  return (comma === -1 ? value : value.slice(0, comma)).trim();
}

/** The Cookie header without `name=…` pairs; an empty string when nothing is left. */
export function withoutCookie(header: string, name: string): string {
  let at = header.indexOf(name);
  if (at === -1) return header;
  let out = header;
  while (at !== -1) {
    // A pair starts at the beginning or after `;` and optional spaces, and is `name=…`.
    let start = at;
    while (start > 0 && out.charCodeAt(start - 1) === 32) start--;
    const boundary = start === 0 || out.charCodeAt(start - 1) === 59; /* ; */
    let after = at + name.length;
    while (out.charCodeAt(after) === 32) after++;
    if (!boundary || out.charCodeAt(after) !== 61 /* = */) {
      at = out.indexOf(name, at + 1);
      continue;
    }
    const semi = out.indexOf(';', after);
    const before = start === 0 ? '' : out.slice(0, start - 1);
    const rest = semi === -1 ? '' : out.slice(semi + 1).trimStart();
    out = before === '' ? rest : rest === '' ? before.trimEnd() : `${before}; ${rest}`;
    at = out.indexOf(name, before.length);
  }
  return out;
}
