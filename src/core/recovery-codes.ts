import { createHmac, randomBytes } from 'node:crypto';
import type { RandomBytes } from './totp.js';

/*
 * Recovery codes for a second factor: shown once, at enrolment, each usable once. Ten of them,
 * each 10 Crockford base32 characters (50 random bits), written `xxxx-xxxx-xx`. Crockford's
 * alphabet has no I, L, O or U, and reading folds the look-alikes back (o → 0, i and l → 1), so a
 * code read off paper or a phone survives a person typing it.
 *
 * Only a keyed hash is stored (see `hashRecoveryCode`): 50 bits are far too many to guess online
 * (the service throttles), and the key keeps a copy of the store from being a list to grind.
 */

export const RECOVERY_CODE_COUNT = 10;
/** Characters per code; × 5 bits = 50 random bits. */
export const RECOVERY_CODE_CHARS = 10;

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CANONICAL = /^[0-9abcdefghjkmnpqrstvwxyz]{10}$/;
/** Longest input worth reading: a code with a separator between every character, and spaces around. */
const MAX_INPUT = 40;

/** `count` fresh codes, formatted `xxxx-xxxx-xx`. */
export function generateRecoveryCodes(
  random: RandomBytes = randomBytes,
  count = RECOVERY_CODE_COUNT,
): string[] {
  const codes: string[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = random(RECOVERY_CODE_CHARS);
    if (bytes.length !== RECOVERY_CODE_CHARS) throw new Error('random source gave the wrong size');
    // 256 is a multiple of 32: the low five bits of a uniform byte are uniform.
    const chars = Array.from(bytes, (b) => ALPHABET[b & 31] as string).join('');
    codes.push(`${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`);
  }
  return codes;
}

/**
 * The canonical form of what a person typed (lower case, no separators, look-alikes folded), or
 * null when it cannot be a recovery code. Only ASCII is accepted: a Unicode look-alike is not
 * folded into a match.
 */
export function normalizeRecoveryCode(input: string): string | null {
  if (input.length > MAX_INPUT) return null;
  const folded = input.toLowerCase().replace(/[\s-]/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  return CANONICAL.test(folded) ? folded : null;
}

/**
 * HMAC-SHA-256 (hex) of a canonical code, bound to its user. One fast keyed hash is enough for
 * 50 random bits; a slow password hash would add nothing but cost.
 */
export function hashRecoveryCode(key: Uint8Array, userId: string, canonical: string): string {
  return createHmac('sha256', key).update(`${userId}\0${canonical}`).digest('hex');
}
