import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/*
 * App tokens (SPEC §3 "Credentials", §4): `pcx_` + base64url of 32 random bytes, for clients that
 * cannot hold a session cookie (native apps, scripts). Only the SHA-256 of the whole token is
 * stored. The prefix makes a leaked token recognisable (secret scanners) and lets the check tell
 * a portcullis credential from the protected app's own, which must pass to the app untouched.
 */

export const APP_TOKEN_PREFIX = 'pcx_';

/** 32 random bytes: 256 bits (SPEC §4 asks for at least 256 after the prefix). */
const SECRET_BYTES = 32;

/**
 * `pcx_` + 43 base64url characters. 43 × 6 = 258 bits carry 256, so the last character's two low
 * bits are zero: only the canonical spelling of the 32 bytes is accepted, never a twin.
 */
const SHAPE = /^pcx_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** A token's full length; anything longer or shorter is refused before any store lookup. */
export const APP_TOKEN_LENGTH = APP_TOKEN_PREFIX.length + 43;

/** Random bytes, injectable so tests can mint known tokens. */
export type RandomBytes = (size: number) => Uint8Array;

export interface MintedAppToken {
  /** The secret, shown to its owner once. */
  token: string;
  /** Public id (16 hex characters) for lists and `portcullis token revoke ID`; not derived from the secret. */
  id: string;
  /** `hashAppToken(token)`: what the store keeps. */
  hash: string;
}

/** Mints a token, its public id and its stored hash. */
export function mintAppToken(random: RandomBytes = randomBytes): MintedAppToken {
  const secret = Buffer.from(random(SECRET_BYTES)).toString('base64url');
  if (secret.length !== 43) throw new Error('random source gave the wrong number of bytes');
  const token = `${APP_TOKEN_PREFIX}${secret}`;
  // Hex: an id never starts with `-`, so the CLI cannot take it for an option.
  const id = Buffer.from(random(8)).toString('hex');
  return { token, id, hash: hashAppToken(token) };
}

/** SHA-256 (hex) of the whole token, prefix included. A fast hash is enough for 256 random bits. */
export function hashAppToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** True when `value` is exactly `pcx_` + the canonical base64url of 32 bytes. */
export function isAppTokenShape(value: string): boolean {
  return value.length === APP_TOKEN_LENGTH && SHAPE.test(value);
}

/**
 * Compares two stored hashes in constant time. The store finds a record by its hash, so this only
 * guards against a record that came back under the wrong key.
 */
export function sameAppTokenHash(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
