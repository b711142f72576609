import { randomBytes } from 'node:crypto';
import { amrForLoginMethod, checkAmrNames } from '../core/amr.js';
import type { Clock } from '../core/clock.js';
import { type Identity, identityOf } from '../core/identity.js';
import type { SessionTokens } from '../core/session-token.js';
import type { Session, Store, User } from '../ports/store.js';

/** A session that is valid right now, with who it belongs to. */
export interface LiveSession {
  session: Session;
  user: User;
  identity: Identity;
  /** Scratch space for per-identity values the HTTP edge computes once (header lists). */
  memo: Map<string, unknown>;
}

export type Lookup = { kind: 'valid'; live: LiveSession } | { kind: 'invalid'; reason: string };

interface CacheEntry {
  /** The whole cookie: the map key is only its end (`cacheKey`). */
  cookie: string;
  result: Lookup;
  sessionId: string | null;
  freshUntil: number;
  /** A re-read of this entry's session is under way (see `refreshAhead`). */
  refreshing: boolean;
}

/**
 * Where a cookie's entry lives in the cache: its last 24 characters, the end of the JWT's HMAC
 * signature (144 bits). Hashing the whole ~230-character cookie for every check cost more than
 * the rest of the lookup; an entry only answers for the exact cookie it was made for, and only
 * verified cookies get an entry.
 */
function cacheKey(cookie: string): string {
  return cookie.length > 64 ? cookie.slice(-24) : cookie;
}

export interface SessionSettings {
  lifetimeMs: number;
  idleTimeoutMs: number | null;
  /** How long a store answer is trusted locally; bounds revocation delay when pub/sub is lost. */
  cacheTtlMs: number;
  cacheMaxEntries: number;
}

export interface SessionMeta {
  ip: string;
  userAgent: string;
  method: string;
  /**
   * How the user authenticated (`core/amr.ts` AuthMethod values). Default: what `method` (an
   * `auth.enabled_auth` id) gives by itself, e.g. ['link'] for `magic_link`.
   */
  amr?: readonly string[];
}

/** `amr`: how the session behind it was authenticated ([] for an app token). */
export function toIdentity(user: User, amr: readonly string[] = []): Identity {
  return { ...identityOf(user), amr };
}

/**
 * Turns a cookie into a live session. The hot path (`peek`) is a map lookup: a cookie's JWT is
 * verified once and its session re-read from the store at most once per `cacheTtlMs`; a
 * revocation from any instance drops the entry at once (pub/sub), and losing the store drops
 * every entry, so a revoked session never outlives the TTL.
 */
export class SessionService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly cookieBySession = new Map<string, string>();
  /**
   * Bumped on every revocation and availability change: a lookup that began before may have read
   * a session that is now revoked, so its answer is returned but not cached.
   */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly tokens: SessionTokens,
    private readonly clock: Clock,
    private readonly settings: SessionSettings,
  ) {
    store.onSessionRevoked((sessionId) => this.forget(sessionId));
    store.onAvailability(() => {
      this.generation += 1;
      this.clear();
    });
  }

  private forget(sessionId: string): void {
    this.generation += 1;
    const cookie = this.cookieBySession.get(sessionId);
    if (cookie !== undefined) {
      this.cache.delete(cacheKey(cookie));
      this.cookieBySession.delete(sessionId);
    }
  }

  clear(): void {
    this.cache.clear();
    this.cookieBySession.clear();
  }

  private stillValid(result: Lookup, now: number): Lookup {
    if (result.kind !== 'valid') return result;
    const { session } = result.live;
    if (session.expiresAt <= now) return { kind: 'invalid', reason: 'expired' };
    const idle = this.settings.idleTimeoutMs;
    if (idle !== null && now - session.lastSeenAt > idle)
      return { kind: 'invalid', reason: 'idle timeout' };
    return result;
  }

  /**
   * The cached answer for this cookie, if one is fresh; never waits for the store. In the last
   * quarter of an entry's freshness it starts one background re-read (`refreshAhead`).
   */
  peek(cookie: string): Lookup | undefined {
    const entry = this.entryFor(cookie);
    if (!entry) return undefined;
    const now = this.clock.now();
    if (entry.freshUntil <= now) return undefined;
    if (
      !entry.refreshing &&
      entry.sessionId !== null &&
      now >= entry.freshUntil - this.settings.cacheTtlMs / 4
    ) {
      this.refreshAhead(cookie, entry, entry.sessionId, now);
    }
    return this.stillValid(entry.result, now);
  }

  /**
   * Re-reads a busy cookie's session shortly before its entry goes stale while the entry keeps
   * answering, so under steady traffic no check waits for the store (with Redis, every check of
   * that cookie would otherwise stall on one round trip each `cacheTtlMs`). The new entry counts
   * as fresh from when the read began, so no answer rests on a store read older than
   * `cacheTtlMs`: the revocation bound is unchanged. A failed read drops the entry, and the next
   * check asks the store itself (503 while it is away).
   */
  private refreshAhead(cookie: string, entry: CacheEntry, sessionId: string, now: number): void {
    entry.refreshing = true;
    const generation = this.generation;
    this.load(sessionId, now).then(
      (result) => {
        if (this.entryFor(cookie) !== entry) return;
        if (generation === this.generation) this.remember(cookie, sessionId, result, now);
        else entry.refreshing = false;
      },
      () => {
        if (this.entryFor(cookie) !== entry) return;
        this.cache.delete(cacheKey(cookie));
        if (this.cookieBySession.get(sessionId) === cookie) this.cookieBySession.delete(sessionId);
      },
    );
  }

  private entryFor(cookie: string): CacheEntry | undefined {
    const entry = this.cache.get(cacheKey(cookie));
    return entry !== undefined && entry.cookie === cookie ? entry : undefined;
  }

  /** Full lookup; rejects when the store is unreachable (callers answer 503). */
  async resolve(cookie: string): Promise<Lookup> {
    const cached = this.peek(cookie);
    if (cached) return cached;
    const now = this.clock.now();
    const generation = this.generation;
    const known = this.entryFor(cookie);
    const sessionId = known ? known.sessionId : await this.tokens.verify(cookie, now);
    if (!sessionId) return { kind: 'invalid', reason: 'bad token' };
    const result = await this.load(sessionId, now);
    if (generation === this.generation) this.remember(cookie, sessionId, result, now);
    return this.stillValid(result, now);
  }

  private async load(sessionId: string, now: number): Promise<Lookup> {
    const session = await this.store.getSession(sessionId);
    if (!session) return { kind: 'invalid', reason: 'no such session' };
    const user = await this.store.getUser(session.userId);
    if (!user) return { kind: 'invalid', reason: 'no such user' };
    if (!user.active) return { kind: 'invalid', reason: 'user deactivated' };
    const idle = this.settings.idleTimeoutMs;
    const touchEvery = Math.min(60_000, idle === null ? 60_000 : Math.max(1000, idle / 4));
    if (
      now - session.lastSeenAt >= touchEvery &&
      (idle === null || now - session.lastSeenAt <= idle)
    ) {
      session.lastSeenAt = now;
      // Activity is bookkeeping: a failed write must not fail the request.
      this.store.touchSession(sessionId, now).catch(() => {});
    }
    const identity = toIdentity(user, session.amr ?? []);
    return { kind: 'valid', live: { session, user, identity, memo: new Map() } };
  }

  private remember(cookie: string, sessionId: string, result: Lookup, now: number): void {
    if (this.cache.size >= this.settings.cacheMaxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) {
        const entry = this.cache.get(oldest);
        this.cache.delete(oldest);
        if (entry?.sessionId) this.cookieBySession.delete(entry.sessionId);
      }
    }
    const key = cacheKey(cookie);
    this.cache.delete(key);
    this.cache.set(key, {
      cookie,
      result,
      sessionId,
      freshUntil: now + this.settings.cacheTtlMs,
      refreshing: false,
    });
    this.cookieBySession.set(sessionId, cookie);
  }

  /** Starts a session for the user; returns the cookie value. */
  async create(user: User, meta: SessionMeta): Promise<{ cookie: string; session: Session }> {
    const now = this.clock.now();
    const session: Session = {
      id: randomBytes(18).toString('base64url'),
      userId: user.id,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.settings.lifetimeMs,
      ip: meta.ip.slice(0, 64),
      userAgent: meta.userAgent.slice(0, 256),
      method: meta.method,
      amr: [...(meta.amr ?? amrForLoginMethod(meta.method))],
    };
    await this.store.createSession(session);
    const cookie = await this.tokens.sign(session.id, now, session.expiresAt);
    return { cookie, session };
  }

  /**
   * Records factors a live session just proved (a passkey or one-time code at a step-up), so
   * rules with `require` let it through. The cached answer on this instance is dropped at once;
   * other instances see the change when their cached entry goes stale (`cacheTtlMs`, 1 s), so
   * the step-up page may be shown once more there, never the reverse. False when the session is
   * gone (ended or expired meanwhile): nothing was added.
   */
  async stepUp(sessionId: string, methods: readonly string[]): Promise<boolean> {
    checkAmrNames(methods);
    const added = await this.store.addSessionAmr(sessionId, methods);
    this.forget(sessionId);
    return added;
  }

  async revoke(sessionId: string): Promise<void> {
    this.forget(sessionId);
    await this.store.deleteSession(sessionId);
  }

  async revokeUser(userId: string): Promise<string[]> {
    const ids = await this.store.deleteUserSessions(userId);
    for (const id of ids) this.forget(id);
    return ids;
  }

  /** Drops cached answers for a user whose record changed (groups, active flag). */
  async refreshUser(userId: string): Promise<void> {
    for (const session of await this.store.listUserSessions(userId)) this.forget(session.id);
  }
}
