import type { Clock } from '../core/clock.js';
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

/**
 * One-time login links. Store-backed links keep only the token's hash; signed links (made by
 * the CLI beside a memory store) carry their own data and have their single use recorded here.
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
    await this.store.putToken(hashToken(token), {
      email,
      rd,
      expiresAt: this.clock.now() + this.ttlMs,
      purpose: 'magic_link',
    });
    return this.url(token);
  }

  /** A link that needs no store write: verifiable by any server holding the same secret key. */
  issueSigned(email: string, rd: string): string {
    const secret = this.secrets[0];
    if (!secret) throw new Error('no secret key to sign with');
    return this.url(
      signLoginToken(secret, { email, rd, expiresAt: this.clock.now() + this.ttlMs }),
    );
  }

  /** Uses the token up. Null when it is unknown, expired, forged or already used. */
  async redeem(token: string): Promise<RedeemedLink | null> {
    if (token.length === 0 || token.length > 2048) return null;
    if (isSignedToken(token)) {
      const payload = verifyLoginToken(this.secrets, token);
      if (!payload || payload.expiresAt <= this.clock.now()) return null;
      const first = await this.store.markUsed(`link:${hashToken(token)}`, payload.expiresAt);
      return first ? { email: payload.email, rd: payload.rd } : null;
    }
    const record = await this.store.consumeToken(hashToken(token));
    if (!record || record.purpose !== 'magic_link') return null;
    return { email: record.email, rd: record.rd };
  }
}
