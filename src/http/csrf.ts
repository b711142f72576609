/**
 * Cross-site request forgery: which POSTs must prove they came from our own page.
 *
 * Every form we render carries a token in a hidden `csrf` field, bound to something a sibling
 * subdomain cannot plant ("cookie tossing": any host under the cookie domain may set a cookie of
 * our name with `Domain=` the parent, so a bare double-submit cookie proves nothing there):
 * - signed in: an HMAC of the session cookie under a key derived from `auth.secret_key`. A
 *   planted session cookie would be the attacker's own session (and beside the real one it makes
 *   no session at all, see `readCookie`), so the token never lets anyone act as the victim.
 * - signed out, `public_url` https: a random value in a `__Host-` cookie, which browsers accept
 *   only host-only, `Secure`, `Path=/` (RFC 6265bis §4.1.3.2), so no sibling can plant it.
 * - signed out over plain http (`__Host-` needs https): a random value in `portcullis_csrf`.
 *   A sibling can plant that one, with a value it got from our own login page, so it is
 *   "tossable" and counts only where the browser itself vouches for the origin (below).
 *
 * Forms the SPEC names — `POST /auth/magic_link` (`email`, `rd`), `/auth/basic` (email +
 * password), `/auth/magic` (the token) and `/auth/logout` — must also work for clients that post
 * exactly those fields (curl, scripts, the acceptance tests), so for them the token is one way in,
 * not the only one. `Csrf.checkFormOrigin` follows Go 1.25's `http.CrossOriginProtection`: every
 * browser that can be steered into a cross-site POST sends `Origin` on it and, since 2023 in all
 * engines, `Sec-Fetch-Site` (https://www.w3.org/TR/fetch-metadata/#sec-fetch-site-header);
 * neither can be set by page script. So a request with neither is not a browser being steered by
 * another site, and `Sec-Fetch-Site: same-origin` is the browser vouching for us.
 *
 * What is not same-origin: `Sec-Fetch-Site: same-site` is exactly what a sibling subdomain's
 * page produces, and `Origin: null` is what its sandboxed frame produces. Our own pages send
 * `Referrer-Policy: no-referrer`, and with it the Fetch standard sends `Origin: null` on every
 * POST, ours included (https://fetch.spec.whatwg.org/#append-a-request-origin-header), so
 * `null` is not refused outright: it needs a bound token unless `Sec-Fetch-Site: same-origin`
 * comes with it. A tossable token passes only beside `same-origin` or our own `Origin`, which a
 * sibling cannot produce either; so on plain http the only exposure left is a browser that sends
 * neither header, and the SPEC rule above lets that through anyway.
 *
 * What a forged request on those routes could do is bounded: request a link (mailed to its
 * owner), sign the victim in as someone else (login CSRF), or sign them out — here or
 * everywhere. `?everywhere=1` stays on the same rule as plain logout: the SPEC names it, so a
 * curl client holding a session cookie must be able to use it.
 *
 * `Csrf.requireSessionToken` is for the admin panel (`POST /auth/admin`): the session-bound
 * token always, and never from a page the browser calls same-site or cross-site. Its actions
 * reach other people (set a password, hand out a login URL, make an admin), so a forged one is an
 * account takeover, and the SPEC names no fields for it, so no SPEC-shaped client loses anything.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { readCookie, serializeCookie } from '../core/cookies.js';
import { PortcullisError } from '../core/errors.js';
import { deriveKey } from '../core/session-token.js';
import type { SessionCookie } from './session-cookie.js';

/** The signed-out token's cookie over plain http. */
export const CSRF_COOKIE = 'portcullis_csrf';
/** The signed-out token's cookie when `public_url` is https. */
export const HOST_CSRF_COOKIE = `__Host-${CSRF_COOKIE}`;

const RANDOM_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Without `auth.secret_key` sessions end with the process too, so a process key loses nothing. */
const processKey = randomBytes(32);

export interface CsrfDeps {
  /** `auth.secret_key`, first one signing; null when none is configured. */
  secretKeys: readonly Buffer[] | null;
  /** The session cookie the signed-in token is bound to. */
  cookie: SessionCookie;
  /** Whether `public_url` is https (`__Host-` cookie). */
  secureCookies: boolean;
  /** `server.path_prefix`: the plain-http cookie's Path. */
  prefix: string;
  /** `public_url`'s origin: the only `Origin` that is ours. */
  publicOrigin: string;
}

function sessionBound(key: Buffer, sessionCookie: string): string {
  return createHmac('sha256', key).update(`session\0${sessionCookie}`).digest('base64url');
}

function sameText(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** A header's value; node joins repeats with ", ", which then never equals anything we accept. */
function headerOf(req: IncomingMessage, name: 'origin' | 'sec-fetch-site'): string | undefined {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : '';
}

/** The CSRF tokens and checks of one server (see the top of this file). */
export class Csrf {
  /** The CSRF keys, first one signing, all verifying (so `secret_key` rotation keeps forms valid). */
  private readonly keys: Buffer[];
  private readonly cookie: SessionCookie;
  private readonly secure: boolean;
  private readonly prefix: string;
  private readonly publicOrigin: string;
  /** The signed-out token's cookie name. */
  private readonly signedOutCookie: string;

  constructor(deps: CsrfDeps) {
    this.keys = (deps.secretKeys ?? [processKey]).map((secret) => deriveKey(secret, 'csrf'));
    this.cookie = deps.cookie;
    this.secure = deps.secureCookies;
    this.prefix = deps.prefix;
    this.publicOrigin = deps.publicOrigin;
    this.signedOutCookie = deps.secureCookies ? HOST_CSRF_COOKIE : CSRF_COOKIE;
  }

  /**
   * The token to put in a form and, when a new signed-out cookie was made for it, the Set-Cookie
   * header that goes with it.
   */
  token(req: IncomingMessage): { token: string; setCookie: string | null } {
    const session = this.cookie.read(req);
    if (session) {
      return { token: sessionBound(this.keys[0] as Buffer, session), setCookie: null };
    }
    const name = this.signedOutCookie;
    const existing = readCookie(req.headers.cookie, name);
    if (existing && RANDOM_TOKEN.test(existing)) return { token: existing, setCookie: null };
    const token = randomBytes(32).toString('base64url');
    const setCookie = serializeCookie(name, token, {
      secure: this.secure,
      // `__Host-` cookies must have Path=/ or browsers drop them.
      path: this.secure ? '/' : this.prefix,
      sameSite: 'Lax',
    });
    return { token, setCookie };
  }

  /**
   * For the forms the SPEC names (magic_link, basic, magic, logout). Passes:
   * - a request with neither `Origin` nor `Sec-Fetch-Site` (not a browser);
   * - `Sec-Fetch-Site: same-origin` with our `Origin` or none, or with `null` and any valid token;
   * - our `Origin` without `Sec-Fetch-Site` (an older browser) with any valid token;
   * - anything else whose `Origin` is not foreign, with a bound token only.
   * Throws PortcullisError('csrf') otherwise.
   */
  checkFormOrigin(req: IncomingMessage, form: URLSearchParams): void {
    const origin = headerOf(req, 'origin');
    const fetchSite = headerOf(req, 'sec-fetch-site');
    this.refuseForeignOrigin(origin);
    if (origin === undefined && fetchSite === undefined) return;
    const ours = origin === this.publicOrigin;
    if (fetchSite === 'same-origin' && (origin === undefined || ours)) return;
    const strength = this.tokenStrength(req, form);
    if (strength === 'bound') return;
    const vouched = fetchSite === 'same-origin' || (fetchSite === undefined && ours);
    if (strength === 'tossable' && vouched) return;
    throw new PortcullisError(
      'csrf',
      `browser request without a ${strength === 'none' ? 'valid' : 'bound'} token (origin ${origin ?? '-'}, sec-fetch-site ${fetchSite ?? '-'})`,
    );
  }

  /**
   * For the admin panel: the token bound to this request's session, no foreign `Origin`, and no
   * `Sec-Fetch-Site` saying another site sent it. Throws PortcullisError('csrf') otherwise.
   */
  requireSessionToken(req: IncomingMessage, form: URLSearchParams): void {
    this.refuseForeignOrigin(headerOf(req, 'origin'));
    const fetchSite = headerOf(req, 'sec-fetch-site');
    if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') {
      throw new PortcullisError('csrf', `admin form from sec-fetch-site ${fetchSite}`);
    }
    const field = form.get('csrf');
    if (!field || !this.isSessionBound(req, field)) {
      throw new PortcullisError('csrf', 'missing token or not bound to this session');
    }
  }

  /**
   * How much the form's `csrf` field proves: `bound` when it is the HMAC of this request's session
   * cookie or the `__Host-` cookie's value, `tossable` when it only matches the plain-http cookie.
   */
  private tokenStrength(
    req: IncomingMessage,
    form: URLSearchParams,
  ): 'bound' | 'tossable' | 'none' {
    const field = form.get('csrf');
    if (!field) return 'none';
    if (this.isSessionBound(req, field)) return 'bound';
    const cookie = readCookie(req.headers.cookie, this.signedOutCookie);
    if (!cookie || !RANDOM_TOKEN.test(cookie) || !sameText(cookie, field)) return 'none';
    return this.secure ? 'bound' : 'tossable';
  }

  private isSessionBound(req: IncomingMessage, field: string): boolean {
    const session = this.cookie.read(req);
    if (!session) return false;
    return this.keys.some((key) => sameText(sessionBound(key, session), field));
  }

  /** Refuses an `Origin` that is neither absent, `null`, nor ours — with or without a token. */
  private refuseForeignOrigin(origin: string | undefined): void {
    if (origin !== undefined && origin !== 'null' && origin !== this.publicOrigin) {
      throw new PortcullisError('csrf', `foreign origin ${origin}`);
    }
  }
}
