import type { Clock } from '../core/clock.js';
import { hashToken, newRandomToken } from '../core/one-time-token.js';
import type { PasskeyChallenge, PasskeyChallengeStore } from '../ports/passkeys.js';

/** Typed settings (`auth.passkey.*`, `server.public_url`), resolved by the caller. */
export interface PasskeySettings {
  /** The WebAuthn RP ID: a registrable suffix of the page's host (default: public_url's host). */
  rpId: string;
  /** Shown by the browser / authenticator while enrolling. */
  rpName: string;
  /** Exact origins a ceremony may come from (`https://auth.example.com`): public_url's origin. */
  origins: string[];
  /** How long a ceremony may take (default 5 minutes): the challenge lifetime. */
  challengeTtlMs?: number;
}

export const PASSKEY_CHALLENGE_TTL_MS = 5 * 60_000;

export interface PasskeyOptions<T> {
  /** What the page hands to `navigator.credentials` (via `PublicKeyCredential.parse*FromJSON`). */
  options: T;
  /**
   * The handle the browser must send back with the response (a cookie or a form field): 256
   * random bits; the store keeps only its hash.
   */
  challengeId: string;
}

/**
 * Stores `challenge` (the options' base64url challenge, exactly as clientDataJSON echoes it)
 * under a fresh handle and returns the handle.
 */
export async function issueChallenge(
  store: Pick<PasskeyChallengeStore, 'putPasskeyChallenge'>,
  clock: Clock,
  ttlMs: number,
  kind: PasskeyChallenge['kind'],
  userId: string | null,
  challenge: string,
): Promise<string> {
  const challengeId = newRandomToken();
  await store.putPasskeyChallenge(hashToken(challengeId), {
    challenge,
    kind,
    userId,
    expiresAt: clock.now() + ttlMs,
  });
  return challengeId;
}

/** Takes the challenge (one use, whatever the outcome) and checks what it was issued for. */
export async function takeChallenge(
  store: Pick<PasskeyChallengeStore, 'takePasskeyChallenge'>,
  challengeId: unknown,
  kind: PasskeyChallenge['kind'],
  userId: string | null,
): Promise<PasskeyChallenge | null> {
  if (typeof challengeId !== 'string' || challengeId.length === 0 || challengeId.length > 128)
    return null;
  const challenge = await store.takePasskeyChallenge(hashToken(challengeId));
  if (!challenge || challenge.kind !== kind) return null;
  if (kind === 'register' && challenge.userId !== userId) return null;
  return challenge;
}
