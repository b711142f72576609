import { mintAppToken, type RandomBytes } from '../core/app-token.js';
import { type AppTokenScope, type ScopeTarget, scopeProblem } from '../core/app-token-scope.js';
import type { Clock } from '../core/clock.js';
import type { Identity } from '../core/identity.js';
import type { AppTokenRecord, AppTokenStore } from '../ports/app-tokens.js';
import type { StoreHealth } from '../ports/store-health.js';
import type { UserDirectory } from '../ports/users.js';
import {
  AppTokenCache,
  type AppTokenCacheSettings,
  type AppTokenInfo,
  type AppTokenVerdict,
  tokenInfo,
} from './app-token-cache.js';

// The check's side (verify, peek, the one-second cache) lives in app-token-cache.ts.
export type {
  AcceptedAppToken,
  AppTokenInfo,
  AppTokenRefusal,
  AppTokenVerdict,
} from './app-token-cache.js';

export type CreateAppTokenResult =
  | { ok: true; token: string; record: AppTokenInfo }
  | {
      ok: false;
      reason:
        | 'unknown_user'
        | 'inactive_user'
        | 'bad_name'
        | 'bad_expiry'
        | 'too_long'
        | 'bad_scope'
        | 'too_many';
      message: string;
    };

export interface AppTokenSettings extends AppTokenCacheSettings {
  /** `tokens.max_lifetime`: the longest expiry, and the expiry of a token created without one. */
  maxLifetimeMs: number;
  /** Live (unrevoked) tokens one user may hold. */
  maxPerUser?: number;
}

/** Who asks to revoke: a user may revoke only their own tokens, an admin any. */
export interface Revoker {
  userId: string;
  admin: boolean;
}

const MAX_NAME_LENGTH = 64;

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * App tokens: create (the secret is returned once), list, revoke, and `verify` for the check
 * (answered by `AppTokenCache`). Store errors (`StoreUnavailableError`) propagate.
 */
export class AppTokenService {
  private readonly cache: AppTokenCache;
  private readonly maxPerUser: number;

  constructor(
    private readonly store: AppTokenStore & Pick<StoreHealth, 'onAvailability'>,
    private readonly users: Pick<UserDirectory, 'getUser'>,
    private readonly clock: Clock,
    private readonly settings: AppTokenSettings,
    private readonly random?: RandomBytes,
  ) {
    this.cache = new AppTokenCache(store, users, clock, settings);
    this.maxPerUser = settings.maxPerUser ?? 100;
    store.onAvailability(() => this.clear());
  }

  /** Drops every cached answer. */
  clear(): void {
    this.cache.clear();
  }

  /** Drops this instance's cached answers for a user whose record changed (deactivation, groups). */
  forgetUser(userId: string): void {
    this.cache.forgetUser(userId);
  }

  async create(
    userId: string,
    name: string,
    options: { expiresInMs?: number; scope?: AppTokenScope | null } = {},
  ): Promise<CreateAppTokenResult> {
    const trimmed = name.trim();
    if (trimmed.length === 0 || trimmed.length > MAX_NAME_LENGTH || hasControlCharacter(trimmed))
      return {
        ok: false,
        reason: 'bad_name',
        message: `a name is 1 to ${MAX_NAME_LENGTH} characters, no control characters`,
      };
    const lifetime = options.expiresInMs ?? this.settings.maxLifetimeMs;
    if (!Number.isSafeInteger(lifetime) || lifetime <= 0)
      return { ok: false, reason: 'bad_expiry', message: 'the expiry must be a positive duration' };
    if (lifetime > this.settings.maxLifetimeMs)
      return { ok: false, reason: 'too_long', message: 'the expiry is past tokens.max_lifetime' };
    const scope = options.scope ?? null;
    if (scope !== null) {
      const problem = scopeProblem(scope);
      if (problem) return { ok: false, reason: 'bad_scope', message: problem };
    }
    const user = await this.users.getUser(userId);
    if (!user) return { ok: false, reason: 'unknown_user', message: 'no such user' };
    if (!user.active)
      return { ok: false, reason: 'inactive_user', message: 'the user is deactivated' };
    if ((await this.store.listUserAppTokens(userId)).length >= this.maxPerUser)
      return {
        ok: false,
        reason: 'too_many',
        message: `a user may hold at most ${this.maxPerUser} tokens: revoke some first`,
      };
    const minted = mintAppToken(this.random);
    const now = this.clock.now();
    const record: AppTokenRecord = {
      id: minted.id,
      userId,
      name: trimmed,
      hash: minted.hash,
      createdAt: now,
      lastUsedAt: null,
      expiresAt: now + lifetime,
      scope: scope === null ? null : structuredClone(scope),
      revokedAt: null,
    };
    await this.store.createAppToken(record);
    return { ok: true, token: minted.token, record: tokenInfo(record) };
  }

  /** The user's unrevoked tokens (expired ones too), newest first. */
  async list(userId: string): Promise<AppTokenInfo[]> {
    return (await this.store.listUserAppTokens(userId)).map(tokenInfo);
  }

  /** One token by id, revoked and expired ones included (for an admin or the CLI). */
  async get(id: string): Promise<AppTokenInfo | null> {
    const record = await this.store.getAppToken(id);
    return record ? tokenInfo(record) : null;
  }

  /**
   * Revokes a token; `by` absent means the operator (CLI). Null when there is no such live
   * token, or it is not `by`'s own and `by` is no admin (the two are not told apart).
   */
  async revoke(id: string, by?: Revoker): Promise<AppTokenInfo | null> {
    if (by !== undefined && !by.admin) {
      const record = await this.store.getAppToken(id);
      if (!record || record.userId !== by.userId) return null;
    }
    const revoked = await this.store.revokeAppToken(id, this.clock.now());
    if (!revoked) return null;
    this.cache.forget(revoked.hash);
    return tokenInfo(revoked);
  }

  /** Revokes every token of a user (e.g. on deletion); returns how many. */
  async revokeUser(userId: string): Promise<number> {
    const revoked = await this.store.revokeUserAppTokens(userId, this.clock.now());
    this.cache.forgetUser(userId);
    return revoked.length;
  }

  /** See `AppTokenCache.peek`: the check's fast path. */
  peek(rawToken: string, target: ScopeTarget): AppTokenVerdict | undefined {
    return this.cache.peek(rawToken, target);
  }

  /** See `AppTokenCache.holder`. */
  holder(rawToken: string): Identity | null {
    return this.cache.holder(rawToken);
  }

  /** See `AppTokenCache.verify`. */
  verify(rawToken: string, target: ScopeTarget): Promise<AppTokenVerdict> {
    return this.cache.verify(rawToken, target);
  }
}
