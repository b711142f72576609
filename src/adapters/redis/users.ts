import {
  EmailTakenError,
  type User,
  type UserDirectory,
  type UserPage,
} from '../../ports/users.js';
import { type LinkVoider, voidLinksOnDeactivation } from '../void-links.js';
import type { RedisAuditTrail } from './audit.js';
import type { RedisContext } from './context.js';

/**
 * Keys: `u:<id>` a user record (JSON), `ue:<lower-cased email>` the email index (user id),
 * `index:users` a sorted set of `<email>\0<id>` (all scores 0, so ordered by email).
 */
export class RedisUsers implements UserDirectory {
  constructor(
    private readonly ctx: RedisContext,
    private readonly floors: LinkVoider,
    private readonly audit: Pick<RedisAuditTrail, 'dropTrail'>,
  ) {}

  async getUser(id: string): Promise<User | null> {
    const data = await this.ctx.client.get(this.ctx.key('u', id));
    return data ? (JSON.parse(data) as User) : null;
  }

  async getUserByEmail(email: string): Promise<User | null> {
    const id = await this.ctx.client.get(this.ctx.key('ue', email.toLowerCase()));
    return id ? this.getUser(id) : null;
  }

  async createUser(user: User): Promise<User> {
    const email = user.email.toLowerCase();
    const stored = { ...user, email };
    // The record is written before the email is claimed, so a claimed email always points at
    // an existing record (a crash in between leaves only an unreferenced record behind).
    await this.ctx.client.set(this.ctx.key('u', user.id), JSON.stringify(stored));
    const claimed = await this.ctx.client.set(this.ctx.key('ue', email), user.id, 'NX');
    if (claimed !== 'OK') {
      const owner = await this.ctx.client.get(this.ctx.key('ue', email));
      if (owner !== user.id) {
        await this.ctx.client.del(this.ctx.key('u', user.id));
        const existing = owner ? await this.getUser(owner) : null;
        if (existing) return existing;
        throw new Error('user email index points at a missing user');
      }
    }
    await this.ctx.client.zadd(this.ctx.key('index', 'users'), 0, `${email}\u0000${user.id}`);
    if (!stored.active) await this.floors.voidLinks(email);
    return stored;
  }

  async updateUser(user: User): Promise<void> {
    const email = user.email.toLowerCase();
    const previous = await this.getUser(user.id);
    if (!previous || previous.email !== email) {
      const claimed = await this.ctx.client.set(this.ctx.key('ue', email), user.id, 'NX');
      if (claimed !== 'OK' && (await this.ctx.client.get(this.ctx.key('ue', email))) !== user.id)
        throw new EmailTakenError(email);
    }
    await this.ctx.client.set(this.ctx.key('u', user.id), JSON.stringify({ ...user, email }));
    if (previous && previous.email !== email) {
      await this.ctx.client.del(this.ctx.key('ue', previous.email));
      await this.ctx.client.zrem(
        this.ctx.key('index', 'users'),
        `${previous.email}\u0000${user.id}`,
      );
    }
    await this.ctx.client.zadd(this.ctx.key('index', 'users'), 0, `${email}\u0000${user.id}`);
    await voidLinksOnDeactivation(this.floors, previous, user, email);
  }

  async updateUserGroups(
    id: string,
    change: (groups: readonly string[]) => string[],
  ): Promise<boolean> {
    const key = this.ctx.key('u', id);
    // Optimistic: re-read and re-apply until no other write slipped in between. Each round that
    // loses was beaten by a write that succeeded, so this ends once writers to this user pause.
    for (;;) {
      const data = await this.ctx.client.get(key);
      if (!data) return false;
      const user = JSON.parse(data) as User;
      const groups = change(user.groups);
      if (groups.length === user.groups.length && groups.every((g, i) => g === user.groups[i]))
        return false;
      const next = JSON.stringify({ ...user, groups });
      if (Number(await this.ctx.scripts.psSetIfEquals(key, data, next)) === 1) return true;
    }
  }

  async listUsers(query: { search?: string; offset: number; limit: number }): Promise<UserPage> {
    const members = await this.ctx.client.zrange(this.ctx.key('index', 'users'), 0, -1);
    const ids = members.map((m) => m.slice(m.indexOf('\u0000') + 1));
    const needle = query.search?.toLowerCase().trim();
    if (needle) {
      const all = await Promise.all(ids.map((id) => this.getUser(id)));
      const users = all.filter(
        (u): u is User =>
          u !== null && (u.email.includes(needle) || u.name.toLowerCase().includes(needle)),
      );
      return { users: users.slice(query.offset, query.offset + query.limit), total: users.length };
    }
    const page = ids.slice(query.offset, query.offset + query.limit);
    const loaded = await Promise.all(page.map((id) => this.getUser(id)));
    return { users: loaded.filter((u): u is User => u !== null), total: ids.length };
  }

  async deleteUser(id: string): Promise<void> {
    const user = await this.getUser(id);
    if (!user) return;
    await this.ctx.client.del(this.ctx.key('u', id));
    await this.ctx.scripts.psDelIfEquals(this.ctx.key('ue', user.email), id);
    await this.ctx.client.zrem(this.ctx.key('index', 'users'), `${user.email}\u0000${id}`);
    await this.audit.dropTrail(id);
    await this.floors.voidLinks(user.email);
  }
}
