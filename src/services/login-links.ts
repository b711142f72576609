import type { Clock } from '../core/clock.js';
import { normalizeEmail } from '../core/email.js';
import {
  hashToken,
  isSignedToken,
  newRandomToken,
  signLoginToken,
  verifyLoginToken,
} from '../core/one-time-token.js';
import type { Store } from '../ports/store.js';

export interface RedeemedLink {
  email: string;
  rd: string;
}

/** The address a link's floor is kept under: the same for every spelling of one account. */
function floorKey(email: string): string {
  return normalizeEmail(email) ?? email.trim().toLowerCase();
}

/**
 * One-time login links. Store-backed links keep only the token's hash; signed links (made by
 * the CLI beside a memory store) carry their own data and have their single use recorded here.
 *
 * Every link carries a stamp, ordered against its address's floor in the store (`LinkFloors`):
 * issuing a link raises the floor to its own stamp, so the older unused ones are void; the store
 * raises it on deactivation, so no link from before works again after re-activation. A signed
 * link is stamped with its issue time: the server cannot have seen it, and accepts it as long as
 * nothing newer was issued or deactivated since; redeeming it raises the floor in turn.
 */
export class LoginLinks {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly secrets: readonly Buffer[],
    private readonly ttlMs: number,
    private readonly baseUrl: string,
  ) {}

  url(token: string): string {
    return `${this.baseUrl}/magic?token=${encodeURIComponent(token)}`;
  }

  /** Creates a link in the store and returns its URL. */
  async issue(email: string, rd: string): Promise<string> {
    const token = newRandomToken();
    const issuedAt = await this.store.nextLinkStamp(floorKey(email), this.clock.now(), this.ttlMs);
    await this.store.putToken(hashToken(token), {
      email,
      rd,
      expiresAt: this.clock.now() + this.ttlMs,
      purpose: 'magic_link',
      issuedAt,
    });
    return this.url(token);
  }

  /** A link that needs no store write: verifiable by any server holding the same secret key. */
  issueSigned(email: string, rd: string): string {
    const secret = this.secrets[0];
    if (!secret) throw new Error('no secret key to sign with');
    const now = this.clock.now();
    return this.url(
      signLoginToken(secret, { email, rd, expiresAt: now + this.ttlMs, issuedAt: now }),
    );
  }

  /**
   * Whose account the token would sign into, without using it up (GET must never spend a link:
   * mail scanners fetch them). Null when `redeem` would surely refuse it now; a signed token's
   * single use is not checked here, so it may still be refused on redeem.
   */
  async peek(token: string): Promise<{ email: string } | null> {
    if (token.length === 0 || token.length > 2048) return null;
    let email: string;
    let issuedAt: number;
    if (isSignedToken(token)) {
      const payload = verifyLoginToken(this.secrets, token);
      if (!payload || payload.expiresAt <= this.clock.now()) return null;
      ({ email, issuedAt } = payload);
    } else {
      const record = await this.store.peekToken(hashToken(token));
      if (record?.purpose !== 'magic_link') return null;
      email = record.email;
      issuedAt = record.issuedAt ?? 0;
    }
    if (issuedAt < (await this.store.getLinkFloor(floorKey(email)))) return null;
    return { email };
  }

  /**
   * Uses the token up. Null when it is unknown, expired, forged, already used, or older than its
   * address's floor (a newer link was issued, or the user was deactivated, since).
   */
  async redeem(token: string): Promise<RedeemedLink | null> {
    if (token.length === 0 || token.length > 2048) return null;
    if (isSignedToken(token)) {
      const payload = verifyLoginToken(this.secrets, token);
      if (!payload || payload.expiresAt <= this.clock.now()) return null;
      const key = floorKey(payload.email);
      if (payload.issuedAt < (await this.store.getLinkFloor(key))) return null;
      const first = await this.store.markUsed(`link:${hashToken(token)}`, payload.expiresAt);
      if (!first) return null;
      // Used, it voids the server's older links as issuing would have; one from the same
      // millisecond cannot be ordered against it and goes too (the stricter answer).
      await this.store.raiseLinkFloor(key, payload.issuedAt + 1, this.ttlMs);
      return { email: payload.email, rd: payload.rd };
    }
    const record = await this.store.consumeToken(hashToken(token));
    if (!record || record.purpose !== 'magic_link') return null;
    if ((record.issuedAt ?? 0) < (await this.store.getLinkFloor(floorKey(record.email))))
      return null;
    return { email: record.email, rd: record.rd };
  }
}
