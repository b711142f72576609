import { hashAppToken, isAppTokenShape, sameAppTokenHash } from '../core/app-token.js';
import { type ScopeTarget, scopeAllows } from '../core/app-token-scope.js';
import type { Clock } from '../core/clock.js';
import type { Identity } from '../core/identity.js';
import type { AppTokenRecord, AppTokenStore } from '../ports/app-tokens.js';
import type { User, UserDirectory } from '../ports/users.js';
import { toIdentity } from './sessions.js';

/** A token as lists and pages show it: never the secret, never its hash. */
export type AppTokenInfo = Omit<AppTokenRecord, 'hash'>;

export function tokenInfo(record: AppTokenRecord): AppTokenInfo {
  const { hash: _hash, ...rest } = record;
  return rest;
}

export type AppTokenRefusal = 'unknown' | 'expired' | 'revoked' | 'inactive_user' | 'out_of_scope';

/**
 * An accepted token: its user, the identity the rules and headers see (built once per store
 * read, as for a session), and scratch space for values the HTTP edge computes once per identity
 * (header lists). The object is shared between checks of the same token: callers only read it.
 */
export interface AcceptedAppToken {
  ok: true;
  user: User;
  record: AppTokenInfo;
  identity: Identity;
  memo: Map<string, unknown>;
}

export type AppTokenVerdict = AcceptedAppToken | { ok: false; reason: AppTokenRefusal };

/** The refusals, built once: a refused check allocates no verdict. */
const REFUSED: { readonly [R in AppTokenRefusal]: { ok: false; reason: R } } = {
  unknown: { ok: false, reason: 'unknown' },
  expired: { ok: false, reason: 'expired' },
  revoked: { ok: false, reason: 'revoked' },
  inactive_user: { ok: false, reason: 'inactive_user' },
  out_of_scope: { ok: false, reason: 'out_of_scope' },
};

interface CacheEntry {
  record: AppTokenRecord;
  user: User;
  freshUntil: number;
  /** What `verify`/`peek` answer while the entry is fresh. */
  accepted: AcceptedAppToken;
}

/** Revocation and deactivation must reach every instance within 1 s (SPEC §4). */
const MAX_CACHE_TTL_MS = 1000;

export interface AppTokenCacheSettings {
  /** How long a positive answer is reused without the store: at most 1000 (SPEC §4). */
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  /** How often a token's `lastUsedAt` is written, at most (default a minute). */
  touchEveryMs?: number;
}

/**
 * The check's side of app tokens: `verify` and `peek`. A positive answer is cached for at most a
 * second, so a revocation or a deactivation from any instance sharing the store refuses the token
 * everywhere within 1 s without pub/sub; losing the store drops the cache (a check then answers
 * 503, never a stale 200). Store errors (`StoreUnavailableError`) propagate.
 */
export class AppTokenCache {
  private readonly cache = new Map<string, CacheEntry>();
  /**
   * Token → its SHA-256, for tokens the store has confirmed. The mapping never changes, so it
   * needs no invalidation: revocation and expiry live in `cache`, keyed by the hash.
   */
  private readonly hashes = new Map<string, string>();
  private readonly inFlight = new Map<string, Promise<CacheEntry | AppTokenRefusal>>();
  /** Bumped by every local revocation and availability change: older reads are not cached. */
  private generation = 0;
  private readonly cacheTtlMs: number;
  private readonly cacheMaxEntries: number;
  private readonly touchEveryMs: number;

  constructor(
    private readonly store: Pick<AppTokenStore, 'findAppTokenByHash' | 'touchAppToken'>,
    private readonly users: Pick<UserDirectory, 'getUser'>,
    private readonly clock: Clock,
    settings: AppTokenCacheSettings,
  ) {
    this.cacheTtlMs = Math.min(settings.cacheTtlMs ?? MAX_CACHE_TTL_MS, MAX_CACHE_TTL_MS);
    this.cacheMaxEntries = settings.cacheMaxEntries ?? 10_000;
    this.touchEveryMs = settings.touchEveryMs ?? 60_000;
  }

  /** Drops every cached answer. */
  clear(): void {
    this.invalidate();
    this.cache.clear();
  }

  /** Reads under way may predate a change: their answers are neither cached nor shared further. */
  private invalidate(): void {
    this.generation += 1;
    this.inFlight.clear();
  }

  /** Drops this instance's cached answers for a user whose record changed (deactivation, groups). */
  forgetUser(userId: string): void {
    this.invalidate();
    for (const [hash, entry] of this.cache)
      if (entry.record.userId === userId) this.cache.delete(hash);
  }

  /** Forgets the answer for one token, just revoked here. */
  forget(hash: string): void {
    this.invalidate();
    this.cache.delete(hash);
  }

  /**
   * The answer for `rawToken` at `target` from this instance's cache, without waiting for the
   * store: undefined when there is no fresh entry (then `verify`). The check's fast path, like
   * `SessionService.peek`: a cached token costs two map lookups.
   */
  peek(rawToken: string, target: ScopeTarget): AppTokenVerdict | undefined {
    let hash = this.hashes.get(rawToken);
    if (hash === undefined) {
      if (!isAppTokenShape(rawToken)) return REFUSED.unknown;
      hash = hashAppToken(rawToken);
    }
    const entry = this.cache.get(hash);
    if (entry === undefined) return undefined;
    const now = this.clock.now();
    if (entry.freshUntil <= now) return undefined;
    return this.judge(hash, entry, target, now);
  }

  /**
   * Whose token this is, from this instance's cache (null when it holds no fresh entry): for a
   * check that refuses a known token outside its scope with 403 rather than 401.
   */
  holder(rawToken: string): Identity | null {
    if (!isAppTokenShape(rawToken)) return null;
    const entry = this.cache.get(hashAppToken(rawToken));
    return entry !== undefined && entry.freshUntil > this.clock.now()
      ? entry.accepted.identity
      : null;
  }

  /**
   * Whether `rawToken` may be used for `target`, and as whom. Only the SHA-256 of the token is
   * looked up (the store finds the record by it), so nothing is compared character by character
   * against a secret. Rejects when the store is unreachable.
   */
  async verify(rawToken: string, target: ScopeTarget): Promise<AppTokenVerdict> {
    if (!isAppTokenShape(rawToken)) return REFUSED.unknown;
    const hash = hashAppToken(rawToken);
    const now = this.clock.now();
    let entry = this.cache.get(hash);
    if (entry === undefined || entry.freshUntil <= now) {
      const loaded = await this.load(hash, now);
      if (typeof loaded === 'string') return REFUSED[loaded];
      entry = loaded;
      // A token the store knows: later checks skip its SHA-256 (about a tenth of a check's CPU).
      if (this.hashes.size >= this.cacheMaxEntries) this.hashes.clear();
      this.hashes.set(rawToken, hash);
    }
    return this.judge(hash, entry, target, this.clock.now());
  }

  /** Expiry, scope and the last-used bookkeeping of a token whose record is fresh. */
  private judge(
    hash: string,
    entry: CacheEntry,
    target: ScopeTarget,
    now: number,
  ): AppTokenVerdict {
    const { record } = entry;
    if (record.expiresAt !== null && record.expiresAt <= now) {
      this.cache.delete(hash);
      return REFUSED.expired;
    }
    if (!scopeAllows(record.scope, target)) return REFUSED.out_of_scope;
    if (record.lastUsedAt === null || now - record.lastUsedAt >= this.touchEveryMs) {
      record.lastUsedAt = now;
      // Bookkeeping: a failed write must not fail the request.
      this.store.touchAppToken(record.id, now).catch(() => {});
    }
    return entry.accepted;
  }

  /** One store read per token at a time: concurrent checks of the same token share it. */
  private load(hash: string, now: number): Promise<CacheEntry | AppTokenRefusal> {
    let pending = this.inFlight.get(hash);
    if (pending === undefined) {
      const generation = this.generation;
      const done = () => {
        if (this.inFlight.get(hash) === pending) this.inFlight.delete(hash);
      };
      pending = this.read(hash, now).then(
        (result) => {
          done();
          if (typeof result !== 'string' && generation === this.generation)
            this.remember(hash, result);
          return result;
        },
        (error: unknown) => {
          done();
          this.cache.delete(hash);
          throw error;
        },
      );
      this.inFlight.set(hash, pending);
    }
    return pending;
  }

  private async read(hash: string, now: number): Promise<CacheEntry | AppTokenRefusal> {
    const record = await this.store.findAppTokenByHash(hash);
    if (!record || !sameAppTokenHash(record.hash, hash)) return 'unknown';
    if (record.revokedAt !== null) return 'revoked';
    if (record.expiresAt !== null && record.expiresAt <= now) return 'expired';
    const user = await this.users.getUser(record.userId);
    if (!user?.active) return 'inactive_user';
    // Fresh from when the read began: no answer rests on a store read older than the TTL.
    const accepted: AcceptedAppToken = {
      ok: true,
      user,
      record: tokenInfo(record),
      identity: toIdentity(user),
      memo: new Map(),
    };
    return { record, user, freshUntil: now + this.cacheTtlMs, accepted };
  }

  private remember(hash: string, entry: CacheEntry): void {
    if (this.cache.size >= this.cacheMaxEntries && !this.cache.has(hash)) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.delete(hash);
    this.cache.set(hash, entry);
  }
}
