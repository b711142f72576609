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

/** Throws unless the form carries the cookie's CSRF value and the Origin (when sent) is ours. */
export function checkCsrf(ctx: AppContext, req: IncomingMessage, form: URLSearchParams): void {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null' && origin !== ctx.config.publicOrigin) {
    throw new PortcullisError('csrf', `foreign origin ${origin}`);
  }
  const cookie = readCookie(req.headers.cookie, CSRF_COOKIE);
  const field = form.get('csrf');
  if (!cookie || !field || cookie.length !== field.length)
    throw new PortcullisError('csrf', 'missing or mismatched token');
  if (!timingSafeEqual(Buffer.from(cookie), Buffer.from(field)))
    throw new PortcullisError('csrf', 'mismatched token');
}
