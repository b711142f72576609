import { randomBytes, timingSafeEqual } from 'node:crypto';
import { HOTP, Secret, TOTP } from 'otpauth';

/*
 * TOTP (RFC 6238) as every authenticator app implements it: HMAC-SHA-1, 6 digits, 30-second
 * steps. Pure: the time comes in as an argument (the caller's injected clock), randomness is
 * injectable. The replay guard lives in the caller's store (`recordTotpStep`): this file only
 * says which step a code belongs to and refuses steps at or below the last one used.
 */

export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_MS = 30_000;
/** Steps accepted either side of now (RFC 6238 §5.2: one step of clock drift each way). */
export const TOTP_WINDOW = 1;
/** 160 bits: the shared-secret length RFC 4226 §4 (R6) recommends (it requires at least 128). */
export const TOTP_SECRET_BYTES = 20;

/** Random bytes, injectable so tests can enrol a known secret. */
export type RandomBytes = (size: number) => Uint8Array;

/** Exactly six ASCII digits: no spaces, signs or other scripts' digits (`[0-9]`, not `\p{Nd}`). */
const CODE_SHAPE = /^[0-9]{6}$/;

/** A fresh secret, base32 (RFC 4648, no padding): 32 characters for 20 bytes. */
export function generateTotpSecret(random: RandomBytes = randomBytes): string {
  const bytes = Uint8Array.from(random(TOTP_SECRET_BYTES));
  if (bytes.length !== TOTP_SECRET_BYTES) throw new Error('random source gave the wrong size');
  return new Secret({ buffer: bytes.buffer }).base32;
}

/**
 * The `otpauth://totp/…` URI an authenticator app scans (Key Uri Format, as Google
 * Authenticator defined it): `issuer` names the service (the product name), `account` the user
 * (their email address).
 */
export function totpUri(issuer: string, account: string, secret: string): string {
  return new TOTP({
    issuer,
    label: account,
    secret: Secret.fromBase32(secret),
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_MS / 1000,
  }).toString();
}

/** The time step `now` (epoch ms) falls in: RFC 6238 §4.2, T0 = 0, X = 30 s. */
export function totpStep(now: number): number {
  return Math.floor(now / TOTP_PERIOD_MS);
}

/** The code for a step (what the user's app shows during that step). */
export function totpCode(secret: string, step: number): string {
  return HOTP.generate({
    secret: Secret.fromBase32(secret),
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    counter: step,
  });
}

/** Whether `code` has the one accepted shape; checked before any HMAC. */
export function isTotpCodeShape(code: string): boolean {
  return code.length === TOTP_DIGITS && CODE_SHAPE.test(code);
}

export type TotpCheck =
  | { ok: true; step: number }
  /** `malformed`: not six ASCII digits. `replayed`: right code, but its step was already used. */
  | { ok: false; reason: 'malformed' | 'bad_code' | 'replayed' };

/**
 * Checks `code` against the steps within ±TOTP_WINDOW of `now`. A code whose step is at or
 * below `lastUsedStep` is refused as a replay (RFC 6238 §5.2: "the verifier MUST NOT accept the
 * second attempt of the OTP after the successful validation has been issued for the first
 * OTP"); this also refuses every older code once a newer one was used. On success the caller
 * must record `step` atomically (only if it is above the stored one) before accepting.
 *
 * Every candidate step is computed and compared (constant time per comparison, no early exit),
 * so the time taken does not say which step matched or how many digits were right.
 */
export function verifyTotpCode(
  code: string,
  secret: string,
  now: number,
  lastUsedStep: number,
): TotpCheck {
  if (!isTotpCodeShape(code)) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(code, 'ascii');
  const current = totpStep(now);
  let accepted: number | null = null;
  let replayed = false;
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    if (step < 0) continue;
    const match = timingSafeEqual(given, Buffer.from(totpCode(secret, step), 'ascii'));
    if (!match) continue;
    if (step <= lastUsedStep) replayed = true;
    // The earliest unused matching step: recording a later one would refuse codes in between.
    else if (accepted === null) accepted = step;
  }
  if (accepted !== null) return { ok: true, step: accepted };
  return { ok: false, reason: replayed ? 'replayed' : 'bad_code' };
}
