import { checkAmrNames } from '../../core/amr.js';
import type { Session, SessionStore } from '../../ports/sessions.js';
import type { Client } from './client.js';
import type { RedisContext } from './context.js';

/** A stored `amr` field: method names separated by spaces (they never hold one). */
function readAmr(field: string | null | undefined): string[] {
  return field ? field.split(' ').filter((method) => method !== '') : [];
}

/**
 * Keys: `s:<id>` a session hash (`data` JSON without `lastSeenAt` and `amr`, `lastSeenAt` apart
 * so a touch rewrites one field, `amr` apart so a step-up adds to it atomically without
 * rewriting `data`; a record from before `amr` existed has none and reads as []), `us:<userId>`
 * the set of a user's session ids. Revocations are
 * published on `channel` and heard on `subscriber`, so every instance drops its cached copy.
 */
export class RedisSessions implements SessionStore {
  private readonly revokeListeners: ((id: string) => void)[] = [];

  constructor(
    private readonly ctx: RedisContext,
    subscriber: Client,
    private readonly channel: string,
  ) {
    subscriber.on('message', (from: string, message: string) => {
      if (from !== this.channel) return;
      for (const listener of this.revokeListeners) listener(message);
    });
  }

  async createSession(session: Session): Promise<void> {
    const { lastSeenAt, amr = [], ...rest } = session;
    checkAmrNames(amr);
    const ttl = this.ctx.ttl(session.expiresAt);
    await Promise.all([
      this.ctx.scripts.psCreateSession(
        this.ctx.key('s', session.id),
        JSON.stringify(rest),
        String(lastSeenAt),
        ttl,
        amr.join(' '),
      ),
      this.ctx.scripts.psIndexSession(this.ctx.key('us', session.userId), session.id, ttl),
    ]);
  }

  async getSession(id: string): Promise<Session | null> {
    const [data, lastSeen, amr] = await this.ctx.client.hmget(
      this.ctx.key('s', id),
      'data',
      'lastSeenAt',
      'amr',
    );
    if (!data) return null;
    const session: Session = {
      ...(JSON.parse(data) as Omit<Session, 'lastSeenAt' | 'amr'>),
      lastSeenAt: Number(lastSeen),
      amr: readAmr(amr),
    };
    return session.expiresAt > this.ctx.clock.now() ? session : null;
  }

  async touchSession(id: string, lastSeenAt: number): Promise<void> {
    await this.ctx.scripts.psTouchSession(this.ctx.key('s', id), String(lastSeenAt));
  }

  async addSessionAmr(id: string, methods: readonly string[]): Promise<boolean> {
    checkAmrNames(methods);
    const added = await this.ctx.scripts.psAddSessionAmr(
      this.ctx.key('s', id),
      String(this.ctx.clock.now()),
      ...methods,
    );
    return added === 1;
  }

  async deleteSession(id: string): Promise<void> {
    const data = (await this.ctx.scripts.psTakeSession(this.ctx.key('s', id))) as string | null;
    if (data) {
      const { userId } = JSON.parse(data) as { userId: string };
      await this.ctx.client.srem(this.ctx.key('us', userId), id);
    }
    // Announced even when the record was already gone: another instance may still cache it.
    await this.ctx.client.publish(this.channel, id);
  }

  async listUserSessions(userId: string): Promise<Session[]> {
    const ids = await this.ctx.client.smembers(this.ctx.key('us', userId));
    const sessions = await Promise.all(ids.map((id) => this.getSession(id)));
    const stale = ids.filter((_id, index) => sessions[index] === null);
    if (stale.length) await this.ctx.client.srem(this.ctx.key('us', userId), ...stale);
    return sessions
      .filter((s): s is Session => s !== null)
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  async deleteUserSessions(userId: string): Promise<string[]> {
    const indexKey = this.ctx.key('us', userId);
    const ids = await this.ctx.client.smembers(indexKey);
    if (ids.length === 0) return [];
    await Promise.all(ids.map((id) => this.ctx.client.del(this.ctx.key('s', id))));
    await this.ctx.client.srem(indexKey, ...ids);
    await Promise.all(ids.map((id) => this.ctx.client.publish(this.channel, id)));
    return ids;
  }

  onSessionRevoked(listener: (sessionId: string) => void): void {
    this.revokeListeners.push(listener);
  }
}
