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

/**
 * How long a dead link is remembered past its expiry, or after its use, so that opening it late
 * is told "expired" or "already used" rather than "not valid". After that it is simply unknown.
 */
export const DEAD_LINK_MEMORY_MS = 24 * 60 * 60_000;

/**
 * What a link is, read without using it (`LoginLinks.inspect`). `email` and `rd` are those the
 * link itself carries (a hashed record or a verified signature), never looked up by address;
 * `email` is null where only the used-mark is left.
 */
export type LinkState =
  | { state: 'live'; email: string; rd: string }
  | { state: 'used'; email: string | null; rd: string | null }
  | { state: 'expired'; email: string; rd: string }
  /** A newer link was issued for the address since, or its account was deactivated. */
  | { state: 'replaced'; email: string; rd: string }
  /** Well-formed, but no link this server knows (never issued, forged, or long gone). */
  | { state: 'unknown' }
  /** Not the shape of any link we issue: cut short, mangled by a mail client, or made up. */
  | { state: 'malformed' };

/** 256 random bits in base64url, as `newRandomToken` makes them. */
const RANDOM_TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** `s1.` body `.` mac, both base64url. */
const SIGNED_TOKEN = /^s1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;

function wellFormed(token: string): boolean {
  return token.length <= 2048 && (RANDOM_TOKEN.test(token) || SIGNED_TOKEN.test(token));
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

  /** `auth.magic_link.ttl`: how long a link lasts. */
  get ttl(): number {
    return this.ttlMs;
  }

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
      keepUntil: this.clock.now() + this.ttlMs + DEAD_LINK_MEMORY_MS,
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
   * single use is checked, but a race with a redeem can still make the redeem refuse it.
   */
  async peek(token: string): Promise<{ email: string } | null> {
    const link = await this.inspect(token);
    return link.state === 'live' ? { email: link.email } : null;
  }

  /**
   * What the token is now, for telling a person at once why a dead link does not work. Reads
   * only: it never consumes, marks, extends or rewrites anything, so a scanner's fetch leaves
   * the link as it was. It tells nothing `redeem` would not: live or dead is what a POST shows
   * too, and used/expired/replaced can only be learnt by someone who already holds the link.
   */
  async inspect(token: string): Promise<LinkState> {
    if (!wellFormed(token)) return { state: 'malformed' };
    const usedKey = `link:${hashToken(token)}`;
    let link: { email: string; rd: string; expiresAt: number; issuedAt: number };
    if (isSignedToken(token)) {
      const payload = verifyLoginToken(this.secrets, token);
      if (!payload) return { state: 'unknown' };
      link = payload;
    } else {
      const record = await this.store.readToken(hashToken(token));
      if (!record) {
        return (await this.store.isMarkedUsed(usedKey))
          ? { state: 'used', email: null, rd: null }
          : { state: 'unknown' };
      }
      if (record.purpose !== 'magic_link') return { state: 'unknown' };
      link = { ...record, issuedAt: record.issuedAt ?? 0 };
    }
    const { email, rd } = link;
    if (await this.store.isMarkedUsed(usedKey)) return { state: 'used', email, rd };
    if (link.expiresAt <= this.clock.now()) return { state: 'expired', email, rd };
    if (link.issuedAt < (await this.store.getLinkFloor(floorKey(email))))
      return { state: 'replaced', email, rd };
    return { state: 'live', email, rd };
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
      const first = await this.store.markUsed(
        `link:${hashToken(token)}`,
        payload.expiresAt + DEAD_LINK_MEMORY_MS,
      );
      if (!first) return null;
      // Used, it voids the server's older links as issuing would have; one from the same
      // millisecond cannot be ordered against it and goes too (the stricter answer).
      await this.store.raiseLinkFloor(key, payload.issuedAt + 1, this.ttlMs);
      return { email: payload.email, rd: payload.rd };
    }
    const hash = hashToken(token);
    const record = await this.store.consumeToken(hash);
    if (record?.purpose !== 'magic_link') return null;
    if ((record.issuedAt ?? 0) < (await this.store.getLinkFloor(floorKey(record.email))))
      return null;
    // Only so that opening it again says "already used"; the consume above is what makes it
    // single-use (this mark is not atomic with it, and need not be).
    await this.store.markUsed(`link:${hash}`, record.expiresAt + DEAD_LINK_MEMORY_MS);
    return { email: record.email, rd: record.rd };
  }
}
