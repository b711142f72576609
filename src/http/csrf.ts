/**
 * Cross-site request forgery: which POSTs must prove they came from our own page.
 *
 * Every form we render carries a double-submit token (a random value in a SameSite=Lax cookie,
 * echoed in a hidden `csrf` field). Forms the SPEC names — `POST /auth/magic_link` (`email`,
 * `rd`), `/auth/basic` (email + password), `/auth/magic` (the token) and `/auth/logout` — must
 * also work for clients that post exactly those fields (curl, scripts, the acceptance tests), so
 * for them the token is one way in, not the only one. `checkFormOrigin` follows the reasoning of
 * Go 1.25's `http.CrossOriginProtection`: every browser that can be tricked into a cross-site POST
 * today sends `Origin` on it (Chrome/Safari for years, Firefox since 70) and, since 2023 in all
 * engines, `Sec-Fetch-Site` (https://www.w3.org/TR/fetch-metadata/#sec-fetch-site-header).
 * Neither header can be set by page script. So a request with neither is not a browser being
 * steered by another site, and a browser request is trusted when the browser itself says
 * `same-origin` (and any `Origin` it sends is ours). Anything else from a browser needs the token,
 * and an `Origin` that is not ours is refused even with it. `Origin: null` (sandboxed frames,
 * some redirect chains, `Referrer-Policy: no-referrer` in some engines) tells us nothing, so it
 * passes only with the token.
 *
 * What a forged request on those routes could do is bounded: request a link (mailed to its
 * owner), sign the victim in as someone else (login CSRF), or sign them out — here or
 * everywhere. `?everywhere=1` stays on the same rule as plain logout: it ends the caller's own
 * sessions, gains an attacker nothing but a nuisance, and the SPEC names it, so a curl client
 * holding a session cookie must be able to use it (SPEC §4: "log out everywhere" ends every
 * session within 1 s).
 *
 * `requireCsrfToken` is for the admin panel (`POST /auth/admin`) and always wants the token, as
 * defence in depth beyond the browsers' headers: its actions reach other people (set a password,
 * hand out a login URL, make an admin), so a forged one is an account takeover, and the only
 * exposure left by the header rule — an old browser, or an extension or proxy that strips
 * `Origin`/`Sec-Fetch-*` — is exactly the signed-in admin's browser. The SPEC names no fields
 * for it, so no SPEC-shaped client loses anything: the panel is used through its own pages,
 * which carry the token.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { readCookie, serializeCookie } from '../core/cookies.js';
import { PortcullisError } from '../core/errors.js';
import type { AppContext } from './context.js';

export const CSRF_COOKIE = 'portcullis_csrf';

/**
 * Double-submit token: a random value in a SameSite cookie that the form must echo. Returns
 * the value to put in forms and, when a new one was made, the Set-Cookie header for it.
 */
export function csrfToken(
  ctx: AppContext,
  req: IncomingMessage,
): { token: string; setCookie: string | null } {
  const existing = readCookie(req.headers.cookie, CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return { token: existing, setCookie: null };
  const token = randomBytes(32).toString('base64url');
  const setCookie = serializeCookie(CSRF_COOKIE, token, {
    secure: ctx.config.secureCookies,
    path: ctx.config.prefix,
    sameSite: 'Lax',
  });
  return { token, setCookie };
}

/** A header's value; node joins repeats with ", ", which then never equals anything we accept. */
function headerOf(req: IncomingMessage, name: 'origin' | 'sec-fetch-site'): string | undefined {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : '';
}

/** True when the form echoes the `portcullis_csrf` cookie (compared in constant time). */
function tokenMatches(req: IncomingMessage, form: URLSearchParams): boolean {
  const cookie = readCookie(req.headers.cookie, CSRF_COOKIE);
  const field = form.get('csrf');
  if (!cookie || !field || cookie.length !== field.length) return false;
  return timingSafeEqual(Buffer.from(cookie), Buffer.from(field));
}

/** Refuses an `Origin` that is neither absent, `null`, nor ours — with or without a token. */
function refuseForeignOrigin(ctx: AppContext, origin: string | undefined): void {
  if (origin !== undefined && origin !== 'null' && origin !== ctx.config.publicOrigin) {
    throw new PortcullisError('csrf', `foreign origin ${origin}`);
  }
}

/**
 * For the forms the SPEC names (magic_link, basic, magic, logout): accepts the double-submit
 * token; without it, accepts a request that carries neither `Origin` nor `Sec-Fetch-Site` (not a
 * browser), or one the browser marks `Sec-Fetch-Site: same-origin` whose `Origin`, if sent, is
 * ours. Throws PortcullisError('csrf') otherwise.
 */
export function checkFormOrigin(
  ctx: AppContext,
  req: IncomingMessage,
  form: URLSearchParams,
): void {
  const origin = headerOf(req, 'origin');
  const fetchSite = headerOf(req, 'sec-fetch-site');
  refuseForeignOrigin(ctx, origin);
  if (tokenMatches(req, form)) return;
  if (origin === undefined && fetchSite === undefined) return;
  if (fetchSite === 'same-origin' && (origin === undefined || origin === ctx.config.publicOrigin))
    return;
  throw new PortcullisError(
    'csrf',
    `browser request without a valid token (origin ${origin ?? '-'}, sec-fetch-site ${fetchSite ?? '-'})`,
  );
}

/**
 * For the admin panel: the double-submit token always, and no foreign `Origin`. Throws
 * PortcullisError('csrf') otherwise.
 */
export function requireCsrfToken(
  ctx: AppContext,
  req: IncomingMessage,
  form: URLSearchParams,
): void {
  refuseForeignOrigin(ctx, headerOf(req, 'origin'));
  if (!tokenMatches(req, form)) throw new PortcullisError('csrf', 'missing or mismatched token');
}
