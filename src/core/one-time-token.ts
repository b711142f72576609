import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { deriveKey } from './session-token.js';

/** A fresh random token: 256 bits, URL-safe. */
export function newRandomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What the store keeps instead of the token itself. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export interface SignedTokenPayload {
  email: string;
  rd: string;
  expiresAt: number;
  /**
   * Clock milliseconds at signing, ordered against the server's per-address link floor (a newer
   * link or a deactivation voids it). Tokens signed before this field existed read as 0.
   */
  issuedAt: number;
}

const SIGNED_PREFIX = 's1.';

export function isSignedToken(token: string): boolean {
  return token.startsWith(SIGNED_PREFIX);
}

function mac(secret: Buffer, body: string): Buffer {
  return createHmac('sha256', deriveKey(secret, 'login-link')).update(body).digest();
}

/**
 * A self-contained login link for when the issuer cannot write into the server's store (the CLI
 * beside a `memory://` server). It carries 128 random bits; the server records its single use.
 */
export function signLoginToken(secret: Buffer, payload: SignedTokenPayload): string {
  const body = Buffer.from(
    JSON.stringify({
      e: payload.email,
      r: payload.rd,
      x: payload.expiresAt,
      i: payload.issuedAt,
      n: randomBytes(16).toString('base64url'),
    }),
  ).toString('base64url');
  return `${SIGNED_PREFIX}${body}.${mac(secret, body).toString('base64url')}`;
}

export function verifyLoginToken(
  secrets: readonly Buffer[],
  token: string,
): SignedTokenPayload | null {
  if (!isSignedToken(token) || token.length > 2048) return null;
  const rest = token.slice(SIGNED_PREFIX.length);
  const dot = rest.indexOf('.');
  if (dot === -1) return null;
  const body = rest.slice(0, dot);
  const given = Buffer.from(rest.slice(dot + 1), 'base64url');
  const valid = secrets.some((secret) => {
    const expected = mac(secret, body);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!valid) return null;
  try {
    const data = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    if (typeof data.e !== 'string' || typeof data.r !== 'string' || typeof data.x !== 'number')
      return null;
    if (data.i !== undefined && typeof data.i !== 'number') return null;
    return { email: data.e, rd: data.r, expiresAt: data.x, issuedAt: data.i ?? 0 };
  } catch {
    return null;
  }
}
