import type { IncomingMessage, ServerResponse } from 'node:http';
import { serializeCookie } from '../../core/cookies.js';
import { PortcullisError } from '../../core/errors.js';
import type { PasskeyRefused } from '../../services/passkeys.js';
import type { RateLimitResult } from '../../services/rate-limit.js';
import type { LiveSession } from '../../services/sessions.js';
import type { Csrf } from '../csrf.js';
import { readJson } from '../json-body.js';
import { sendJson } from '../respond.js';
import { currentSession, type SessionReader } from '../routes/session-routes.js';

/*
 * What every passkey call from our page's script shares (sign-in, registration, step-up): who
 * may call, how its body reads, the challenge cookie, and how a refusal is answered.
 */

export const CSRF_HEADER = 'x-csrf-token';
export const JSON_LIMITS = { maxBytes: 64 * 1024, maxDepth: 8 };

export interface CeremonyBody {
  response: unknown;
  rd: string | null;
}

/**
 * A call from our own page's script, nothing else: our exact `Origin` (a cross-site page, a
 * sibling subdomain and a sandboxed frame all send another one or `null`), no
 * `Sec-Fetch-Site` other than same-origin, and a JSON content type, which no HTML form can send.
 */
export function checkScriptCall(req: IncomingMessage, origins: readonly string[]): void {
  const origin = req.headers.origin;
  if (typeof origin !== 'string' || !origins.includes(origin)) {
    throw new PortcullisError('csrf', `passkey call from origin ${origin ?? '-'}`);
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') {
    throw new PortcullisError('csrf', `passkey call from sec-fetch-site ${String(site)}`);
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    throw new PortcullisError('bad_request', `passkey call with content-type ${type ?? '-'}`);
  }
}

export async function readCeremony(req: IncomingMessage): Promise<CeremonyBody> {
  const body = await readJson(req, JSON_LIMITS);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PortcullisError('bad_request', 'passkey body not an object');
  }
  const { response, rd } = body as Record<string, unknown>;
  if (rd !== undefined && typeof rd !== 'string') {
    throw new PortcullisError('bad_request', 'passkey rd not a string');
  }
  return { response, rd: rd ?? null };
}

/** The credential ID a response names, if it looks like one (for the audit trail only). */
export function credentialIdOf(response: unknown): string | null {
  if (typeof response !== 'object' || response === null) return null;
  const id = (response as Record<string, unknown>).id;
  return typeof id === 'string' && /^[A-Za-z0-9_-]{1,1364}$/.test(id) ? id : null;
}

/** What the person reads for each refusal; the reason itself goes to the log and audit. */
export function refusalAnswer(refusal: PasskeyRefused): {
  status: number;
  code: string;
  message: string;
} {
  switch (refusal.reason) {
    case 'unknown_credential':
      return {
        status: 401,
        code: 'unauthenticated',
        message:
          'This passkey is not registered here (it may have been removed). Sign in another way, then create a new one.',
      };
    case 'inactive_user':
      return {
        status: 403,
        code: 'forbidden',
        message: 'This account is deactivated. Ask an administrator.',
      };
    case 'bad_challenge':
      return {
        status: 400,
        code: 'bad_request',
        message: 'The sign-in took too long or was already used. Try again.',
      };
    default:
      return {
        status: 401,
        code: 'unauthenticated',
        message: 'That passkey could not be verified. Try again, or sign in another way.',
      };
  }
}

/**
 * The signed-in session behind a script call, after the Origin check and the session-bound
 * CSRF token in X-CSRF-Token; `what` names the call in the error.
 */
export async function scriptSession(
  req: IncomingMessage,
  deps: {
    origins: readonly string[];
    session: SessionReader;
    csrf: Pick<Csrf, 'requireSessionToken'>;
  },
  what: string,
): Promise<LiveSession> {
  checkScriptCall(req, deps.origins);
  const lookup = await currentSession(deps.session, req);
  if (lookup?.kind !== 'valid') {
    req.resume();
    throw new PortcullisError('unauthenticated', `${what} without a session`);
  }
  const header = req.headers[CSRF_HEADER];
  deps.csrf.requireSessionToken(
    req,
    new URLSearchParams({ csrf: typeof header === 'string' ? header : '' }),
  );
  return lookup.live;
}

/**
 * A challenge cookie under `<prefix>/passkey`: HttpOnly, SameSite=Strict, living as long as the
 * challenge. `set` writes a handle, `clear` drops the browser's copy.
 */
export function challengeCookie(
  name: string,
  options: { secure: boolean; prefix: string; ttlMs: number },
): { set(value: string): string; clear(): string } {
  const write = (value: string, maxAgeSeconds: number) =>
    serializeCookie(name, value, {
      secure: options.secure,
      path: `${options.prefix}/passkey`,
      maxAgeSeconds,
      sameSite: 'Strict',
    });
  const ttlSeconds = Math.ceil(options.ttlMs / 1000);
  return { set: (value) => write(value, ttlSeconds), clear: () => write('', 0) };
}

/** Throws `rate_limited` (with Retry-After) when the options limiter said no. */
export function refuseWhenLimited(limited: RateLimitResult, what: string): void {
  if (!limited.allowed) {
    throw new PortcullisError('rate_limited', what, undefined, {
      retryAfter: Math.ceil(limited.retryAfterMs / 1000),
    });
  }
}

/** A refused ceremony as JSON; `unknown` names a credential the browser may forget (Signal API). */
export function sendRefusal(
  req: IncomingMessage,
  res: ServerResponse,
  answer: { status: number; code: string; message: string },
  unknown: Record<string, string> | null,
  headers: string[],
): void {
  sendJson(
    req,
    res,
    answer.status,
    {
      error: answer.code,
      message: answer.message,
      ...(unknown ? { unknown_credential: unknown } : {}),
    },
    headers,
  );
}
