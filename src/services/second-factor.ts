import { randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import type { Clock } from '../core/clock.js';
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
} from '../core/recovery-codes.js';
import { deriveSubkey, SecretBox, type SecretKeyInput } from '../core/secret-box.js';
import { generateTotpSecret, type RandomBytes, totpUri, verifyTotpCode } from '../core/totp.js';
import type { Counters } from '../ports/counters.js';
import type { SecondFactorStore } from '../ports/second-factors.js';
import { RateLimiter, type RateLimitRule } from './rate-limit.js';

/**
 * Guessing budget per user, shared by TOTP codes, recovery codes and the enrolment confirmation,
 * on every instance (the counters are in the store). Every attempt counts, as for passwords, and
 * is counted before any work. 5 per 5 minutes lets a person mistype; against a 6-digit code with
 * a ±1-step window it allows ~1,440 guesses a day, each with a 3-in-a-million chance, and only
 * after the password was right (which has its own limits).
 */
export const SECOND_FACTOR_LIMIT: RateLimitRule = {
  name: 'second_factor:user',
  limit: 5,
  windowMs: 5 * 60_000,
};

/** A confirmed TOTP whose secret none of the configured keys opens: an operator fault, not a "no". */
export class TotpSecretUnreadableError extends Error {
  constructor(userId: string) {
    super(
      `the TOTP secret of user ${userId} opens with none of auth.secret_key (was the key that sealed it removed?)`,
    );
    this.name = 'TotpSecretUnreadableError';
  }
}

export interface SecondFactorSettings {
  /** `ui.product_name`: the issuer an authenticator app shows beside the code. */
  issuer: string;
  /**
   * `auth.secret_key`, first one sealing and hashing, every one opening (rotation). Hex strings or
   * bytes; pass the same list the session keys use (the runtime key when none is configured).
   */
  secretKeys: readonly SecretKeyInput[];
  /** Defaults to SECOND_FACTOR_LIMIT. */
  limit?: RateLimitRule;
  random?: RandomBytes;
}

export interface TotpEnrolment {
  ok: true;
  /** Base32, for typing into an app that cannot scan (show it grouped in fours). */
  secret: string;
  /** The `otpauth://totp/…` URI the QR code holds. */
  uri: string;
  /** The QR code as an SVG document (no script, no external references): inline it in the page. */
  qrSvg: string;
}

export type RateLimited = { ok: false; reason: 'rate_limited'; retryAfterMs: number };

export type ConfirmTotpResult =
  | { ok: true; recoveryCodes: string[] }
  /** `not_pending`: no enrolment begun, already confirmed, or restarted elsewhere meanwhile. */
  | { ok: false; reason: 'bad_code' | 'not_pending' }
  | RateLimited;

export type VerifyTotpResult =
  | { ok: true }
  | { ok: false; reason: 'bad_code' | 'replayed' | 'not_enrolled' }
  | RateLimited;

export type RecoveryCodeResult =
  | { ok: true; remaining: number }
  | { ok: false; reason: 'bad_code' }
  | RateLimited;

export interface SecondFactorStatus {
  totp: 'none' | 'pending' | 'confirmed';
  confirmedAt: number | null;
  recoveryCodesLeft: number;
}

/** A value no canonical recovery code equals (those are 10 Crockford base32 characters). */
const NOT_A_CODE = 'malformed';

/**
 * TOTP (RFC 6238) and recovery codes as a second factor after a password. Plain values in,
 * outcome unions out; the HTTP edge decides what a page says. A passkey counting as the second
 * factor is the caller's OR with `hasSecondFactor`.
 */
export class SecondFactorService {
  private readonly box: SecretBox;
  private readonly recoveryKeys: Buffer[];
  private readonly limiter: RateLimiter;
  private readonly limit: RateLimitRule;
  private readonly issuer: string;
  private readonly random: RandomBytes;

  constructor(
    private readonly store: SecondFactorStore & Counters,
    private readonly clock: Clock,
    settings: SecondFactorSettings,
  ) {
    this.box = new SecretBox(settings.secretKeys, 'totp-secret');
    this.recoveryKeys = settings.secretKeys.map((key) => deriveSubkey(key, 'recovery-codes:v1'));
    this.limiter = new RateLimiter(store, clock);
    this.limit = settings.limit ?? SECOND_FACTOR_LIMIT;
    this.issuer = settings.issuer;
    this.random = settings.random ?? randomBytes;
  }

  /**
   * Starts enrolment: a fresh secret, stored sealed and pending until `confirmTotpEnrolment`.
   * Calling it again replaces a pending secret (a reload shows a new QR code). Refused while a
   * confirmed TOTP exists: `disable` first.
   */
  async beginTotpEnrolment(user: {
    id: string;
    email: string;
  }): Promise<TotpEnrolment | { ok: false; reason: 'already_enrolled' }> {
    const secret = generateTotpSecret(this.random);
    const stored = await this.store.setPendingTotp(user.id, this.box.seal(secret, user.id));
    if (!stored) return { ok: false, reason: 'already_enrolled' };
    const uri = totpUri(this.issuer, user.email, secret);
    const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { ok: true, secret, uri, qrSvg };
  }

  /**
   * Confirms the pending secret with a code from the app. On success the TOTP is active, that
   * code's step is used up, and ten recovery codes are returned: the only time they exist in
   * the clear.
   */
  async confirmTotpEnrolment(userId: string, code: string): Promise<ConfirmTotpResult> {
    const limited = await this.throttle(userId);
    if (limited) return limited;
    const totp = (await this.store.getSecondFactors(userId))?.totp;
    if (!totp || totp.confirmedAt !== null) return { ok: false, reason: 'not_pending' };
    const secret = this.openSecret(userId, totp.secretEnc);
    const now = this.clock.now();
    const check = verifyTotpCode(code, secret, now, totp.lastUsedStep);
    if (!check.ok) return { ok: false, reason: 'bad_code' };
    const recoveryCodes = generateRecoveryCodes(this.random);
    const confirmed = await this.store.confirmTotp(
      userId,
      totp.secretEnc,
      check.step,
      now,
      this.hashCodes(userId, recoveryCodes),
    );
    return confirmed ? { ok: true, recoveryCodes } : { ok: false, reason: 'not_pending' };
  }

  /**
   * Checks a sign-in code. Accepted at most once per time step across every instance: the step
   * is recorded with a compare-and-set in the store, and losing that race is `replayed`.
   */
  async verifyTotp(userId: string, code: string): Promise<VerifyTotpResult> {
    const limited = await this.throttle(userId);
    if (limited) return limited;
    const totp = (await this.store.getSecondFactors(userId))?.totp;
    if (!totp || totp.confirmedAt === null) return { ok: false, reason: 'not_enrolled' };
    const secret = this.openSecret(userId, totp.secretEnc);
    const check = verifyTotpCode(code, secret, this.clock.now(), totp.lastUsedStep);
    if (!check.ok)
      return { ok: false, reason: check.reason === 'replayed' ? 'replayed' : 'bad_code' };
    const recorded = await this.store.recordTotpStep(userId, check.step);
    return recorded ? { ok: true } : { ok: false, reason: 'replayed' };
  }

  /**
   * Signs in with a recovery code instead of a TOTP code; each code works once. Malformed input
   * takes the same path as a wrong code (one hash per key, one store call per key), so neither
   * the answer nor its timing says which it was.
   */
  async useRecoveryCode(userId: string, code: string): Promise<RecoveryCodeResult> {
    const limited = await this.throttle(userId);
    if (limited) return limited;
    const canonical = normalizeRecoveryCode(code) ?? NOT_A_CODE;
    let used = false;
    // The first key hashed the codes; older keys are tried so a rotation keeps them usable.
    for (const key of this.recoveryKeys) {
      if (await this.store.consumeRecoveryCode(userId, hashRecoveryCode(key, userId, canonical))) {
        used = true;
        break;
      }
    }
    if (!used || canonical === NOT_A_CODE) return { ok: false, reason: 'bad_code' };
    const left = (await this.store.getSecondFactors(userId))?.recoveryHashes.length ?? 0;
    return { ok: true, remaining: left };
  }

  /** New recovery codes replacing the old ones (all of them), for a user with a confirmed TOTP. */
  async regenerateRecoveryCodes(
    userId: string,
  ): Promise<{ ok: true; recoveryCodes: string[] } | { ok: false; reason: 'not_enrolled' }> {
    const recoveryCodes = generateRecoveryCodes(this.random);
    const replaced = await this.store.replaceRecoveryCodes(
      userId,
      this.hashCodes(userId, recoveryCodes),
    );
    return replaced ? { ok: true, recoveryCodes } : { ok: false, reason: 'not_enrolled' };
  }

  /** Whether the user has a confirmed TOTP (a pending enrolment does not count). */
  async hasSecondFactor(userId: string): Promise<boolean> {
    const totp = (await this.store.getSecondFactors(userId))?.totp;
    return totp != null && totp.confirmedAt !== null;
  }

  /** What the account page shows. */
  async status(userId: string): Promise<SecondFactorStatus> {
    const record = await this.store.getSecondFactors(userId);
    const totp = record?.totp ?? null;
    return {
      totp: totp === null ? 'none' : totp.confirmedAt === null ? 'pending' : 'confirmed',
      confirmedAt: totp?.confirmedAt ?? null,
      recoveryCodesLeft: record?.recoveryHashes.length ?? 0,
    };
  }

  /** Removes the TOTP and every recovery code (the user turning it off, an admin reset, deletion). */
  async disable(userId: string): Promise<void> {
    await this.store.removeSecondFactors(userId);
  }

  private async throttle(userId: string): Promise<RateLimited | null> {
    const result = await this.limiter.hit(this.limit, userId);
    return result.allowed
      ? null
      : { ok: false, reason: 'rate_limited', retryAfterMs: result.retryAfterMs };
  }

  private openSecret(userId: string, secretEnc: string): string {
    const opened = this.box.open(secretEnc, userId);
    if (!opened) throw new TotpSecretUnreadableError(userId);
    return opened.plaintext;
  }

  private hashCodes(userId: string, codes: readonly string[]): string[] {
    const key = this.recoveryKeys[0] as Buffer;
    return codes.map((code) =>
      hashRecoveryCode(key, userId, normalizeRecoveryCode(code) as string),
    );
  }
}
