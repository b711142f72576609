import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Session } from '../../ports/sessions.js';
import type { TokenStore } from '../../ports/tokens.js';

/**
 * How long a sign-in or a step-up counts as a fresh proof that the person at the keyboard is
 * the account's owner. Adding a passkey needs one: a stolen session cookie must not be able to
 * register its thief's own key and so outlive the session.
 */
export const RECENT_PROOF_MS = 15 * 60_000;

/** Whether a session has proved itself lately, and the record of a step-up that just did. */
export interface RecentProof {
  isRecent(session: Session): Promise<boolean>;
  record(sessionId: string): Promise<void>;
}

/**
 * Recent proofs: a session signed in less than RECENT_PROOF_MS ago (a magic link, SSO, a
 * passkey, a password), or one that stepped up since, kept as a mark in the store for the same
 * time (every instance sees it; the store lets it expire). The mark is keyed by a hash of the
 * session id: the id itself only ever sits in the session's own record.
 */
export class RecentProofs implements RecentProof {
  constructor(
    private readonly tokens: Pick<TokenStore, 'markUsed' | 'isMarkedUsed'>,
    private readonly clock: Clock,
    private readonly windowMs: number = RECENT_PROOF_MS,
  ) {}

  private key(sessionId: string): string {
    return `step-up:${createHash('sha256').update(sessionId).digest('base64url')}`;
  }

  async isRecent(session: Session): Promise<boolean> {
    if (this.clock.now() - session.createdAt < this.windowMs) return true;
    return this.tokens.isMarkedUsed(this.key(session.id));
  }

  /**
   * A step-up just happened. A mark that is already there keeps its end (`markUsed` never
   * extends one): the proof then counts from the first step-up of the window, never longer.
   */
  async record(sessionId: string): Promise<void> {
    await this.tokens.markUsed(this.key(sessionId), this.clock.now() + this.windowMs);
  }
}

/**
 * The step-up page's URL under `base` (the prefix, or the public base URL), back to `rd`
 * afterwards: `passkey` / `mfa` for a rule's `require`, `recent` for a fresh proof.
 */
export function stepUpUrl(base: string, rd: string, need: 'passkey' | 'mfa' | 'recent'): string {
  return `${base}/login?rd=${encodeURIComponent(rd)}&step_up=${need}`;
}
