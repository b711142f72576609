import { usernameProblemText } from '../core/username.js';
import type { User, UserDirectory } from '../ports/users.js';
import type { AppTokenInfo, AppTokenService, CreateAppTokenResult } from './app-tokens.js';
import type { AdminAction, AuditEvent, AuditFacts, AuditRecord, AuditSource } from './audit.js';
import type { UserService } from './users.js';

/** What renaming a user came to, with the words the panel shows next to the field. */
export type UsernameChange =
  | { ok: true; user: User; changed: boolean }
  | { ok: false; reason: 'invalid' | 'taken' | 'missing'; message: string };

export type TokenRevocation = { ok: true; token: AppTokenInfo } | { ok: false; message: string };

export interface AdminAccountsDeps {
  store: Pick<UserDirectory, 'getUser'>;
  users: Pick<UserService, 'setUsername'>;
  /** Drops this instance's cached sessions of a user; other instances re-read within 1 s. */
  sessions: { refreshUser(userId: string): Promise<void> };
  /** Null when `tokens.enabled` is false: the panel then offers no tokens. */
  appTokens: Pick<AppTokenService, 'create' | 'list' | 'revoke'> | null;
  audit: { record(event: AuditEvent, who: AuditRecord): Promise<void> };
}

/**
 * A user's username and app tokens, as an admin changes them in the panel. Every change is an
 * `admin.*` audit event with the user as subject; a token's secret never reaches the log.
 */
export class AdminAccounts {
  constructor(private readonly deps: AdminAccountsDeps) {}

  get tokensEnabled(): boolean {
    return this.deps.appTokens !== null;
  }

  async setUsername(
    actor: User,
    userId: string,
    raw: string,
    source: AuditSource | null = null,
  ): Promise<UsernameChange> {
    const before = await this.deps.store.getUser(userId);
    if (!before) return { ok: false, reason: 'missing', message: 'That user no longer exists.' };
    const result = await this.deps.users.setUsername(userId, raw);
    switch (result.kind) {
      case 'invalid':
        return { ok: false, reason: 'invalid', message: usernameProblemText(result.problem) };
      case 'taken':
        return {
          ok: false,
          reason: 'taken',
          message: 'Another user has this username (names are compared ignoring case).',
        };
      case 'missing':
        return { ok: false, reason: 'missing', message: 'That user no longer exists.' };
      case 'ok': {
        if (result.user.username === before.username)
          return { ok: true, user: result.user, changed: false };
        // Cached sessions hold the old name: the next check must carry the new one.
        await this.deps.sessions.refreshUser(userId);
        await this.log(actor, 'set_username', result.user, source, {
          username: result.user.username,
          previous: before.username,
        });
        return { ok: true, user: result.user, changed: true };
      }
    }
  }

  /** The user's tokens (unrevoked; expired ones too), newest first; [] when tokens are off. */
  async listTokens(userId: string): Promise<AppTokenInfo[]> {
    return this.deps.appTokens ? this.deps.appTokens.list(userId) : [];
  }

  async createToken(
    actor: User,
    userId: string,
    name: string,
    expiresInMs: number | undefined,
    source: AuditSource | null = null,
  ): Promise<CreateAppTokenResult> {
    const { appTokens } = this.deps;
    if (!appTokens)
      return {
        ok: false,
        reason: 'unknown_user',
        message: 'app tokens are turned off (tokens.enabled)',
      };
    const result = await appTokens.create(userId, name, { expiresInMs });
    if (!result.ok) return result;
    const user = await this.deps.store.getUser(userId);
    if (user)
      await this.log(actor, 'create_token', user, source, {
        token_id: result.record.id,
        name: result.record.name,
        expires_at:
          result.record.expiresAt === null
            ? 'never'
            : new Date(result.record.expiresAt).toISOString(),
      });
    return result;
  }

  /** Revokes one of `userId`'s live tokens; a token of someone else is "not found". */
  async revokeToken(
    actor: User,
    userId: string,
    tokenId: string,
    source: AuditSource | null = null,
  ): Promise<TokenRevocation> {
    const { appTokens } = this.deps;
    const gone = {
      ok: false,
      message: 'That token is already revoked or does not exist.',
    } as const;
    if (!appTokens) return gone;
    const user = await this.deps.store.getUser(userId);
    if (!user) return { ok: false, message: 'That user no longer exists.' };
    const owned = (await appTokens.list(userId)).some((token) => token.id === tokenId);
    if (!owned) return gone;
    const revoked = await appTokens.revoke(tokenId, { userId: actor.id, admin: true });
    if (!revoked) return gone;
    await this.log(actor, 'revoke_token', user, source, {
      token_id: revoked.id,
      name: revoked.name,
    });
    return { ok: true, token: revoked };
  }

  private async log(
    actor: User,
    action: AdminAction,
    subject: User,
    source: AuditSource | null,
    facts: AuditFacts,
  ): Promise<void> {
    await this.deps.audit.record({ event: `admin.${action}`, facts }, { actor, subject, source });
  }
}
