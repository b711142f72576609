import { randomBytes } from 'node:crypto';
import { initialUsername, usernameCandidates, usernameKey } from '../../core/username.js';
import {
  EmailTakenError,
  type SetUsernameResult,
  type User,
  type UserDirectory,
  type UserInput,
  type UserPage,
} from '../../ports/users.js';
import { matches } from '../user-search.js';
import { type LinkVoider, voidLinksOnDeactivation } from '../void-links.js';
import type { RedisAuditTrail } from './audit.js';
import type { RedisContext } from './context.js';

/** A record as stored: those written before usernames existed have none. */
type StoredUser = Omit<User, 'username'> & { username?: string };

const suffix = () => randomBytes(3).toString('hex');

/**
 * Keys: `u:<id>` a user record (JSON), `ue:<lower-cased email>` the email index (user id),
 * `un:<usernameKey>` the username index (user id), `index:users` a sorted set of
 * `<email>\0<id>` (all scores 0, so ordered by email). Every command touches one key (Redis
 * Cluster).
 *
 * Usernames: the index entry is what makes a name someone's; a record's `username` is claimed
 * while the record exists (creation writes the record first, then claims the name, then the
 * email that makes the record reachable), so an entry whose owner's record is gone is stale (a
 * creation that lost its email race, a crash in a deletion) and the next claimer takes it over
 * by compare-and-set. Records from before usernames get one on first read (`migrate`).
 */
export class RedisUsers implements UserDirectory {
  constructor(
    private readonly ctx: RedisContext,
    private readonly floors: LinkVoider,
    private readonly audit: Pick<RedisAuditTrail, 'dropTrail'>,
    /** Names no account may get (anonymous_user.id: a user called so would pass as nobody). */
    private readonly reserved: readonly string[] = [],
  ) {}

  async getUser(id: string): Promise<User | null> {
    const data = await this.ctx.client.get(this.ctx.key('u', id));
    if (!data) return null;
    const user = JSON.parse(data) as StoredUser;
    return typeof user.username === 'string' ? (user as User) : this.migrate(id);
  }

  async getUserByUsername(username: string): Promise<User | null> {
    const key = usernameKey(username);
    const id = await this.ctx.client.get(this.ctx.key('un', key));
    const user = id ? await this.getUser(id) : null;
    // An entry left by a rename that crashed half-way names a user called otherwise.
    return user && usernameKey(user.username) === key ? user : null;
  }

  /** Claims `username` for `id` (whose record exists); false when another user has it. */
  private async claimUsername(username: string, id: string): Promise<boolean> {
    const key = this.ctx.key('un', usernameKey(username));
    for (;;) {
      if ((await this.ctx.client.set(key, id, 'NX')) === 'OK') return true;
      const owner = await this.ctx.client.get(key);
      if (owner === null) continue;
      if (owner === id) return true;
      if (await this.ctx.client.exists(this.ctx.key('u', owner))) return false;
      if (Number(await this.ctx.scripts.psSetIfEquals(key, owner, id)) === 1) return true;
    }
  }

  private async releaseUsername(username: string, id: string): Promise<void> {
    await this.ctx.scripts.psDelIfEquals(this.ctx.key('un', usernameKey(username)), id);
  }

  /**
   * Gives a record from before usernames one (from its SCIM userName, else its email), with
   * compare-and-set so a write that lands meanwhile is not lost; two instances migrating the
   * same record agree on the one that was written first.
   */
  private async migrate(id: string): Promise<User | null> {
    const key = this.ctx.key('u', id);
    let data = await this.ctx.client.get(key);
    if (!data) return null;
    let user = JSON.parse(data) as StoredUser;
    if (typeof user.username === 'string') return user as User;
    const base = initialUsername(user.userName, user.email, this.reserved);
    for (const candidate of usernameCandidates(base, suffix, this.reserved)) {
      if (!(await this.claimUsername(candidate, id))) continue;
      for (;;) {
        const next: User = { ...user, username: candidate };
        if (Number(await this.ctx.scripts.psSetIfEquals(key, data, JSON.stringify(next))) === 1)
          return next;
        data = await this.ctx.client.get(key);
        if (!data) {
          await this.releaseUsername(candidate, id);
          return null;
        }
        user = JSON.parse(data) as StoredUser;
        if (typeof user.username === 'string') {
          if (usernameKey(user.username) !== usernameKey(candidate))
            await this.releaseUsername(candidate, id);
          return user as User;
        }
      }
    }
    throw new Error('unreachable: usernameCandidates never ends');
  }

  async getUserByEmail(email: string): Promise<User | null> {
    const id = await this.ctx.client.get(this.ctx.key('ue', email.toLowerCase()));
    return id ? this.getUser(id) : null;
  }

  async createUser(user: UserInput): Promise<User> {
    const email = user.email.toLowerCase();
    const known = await this.ctx.client.get(this.ctx.key('ue', email));
    const found = known ? await this.getUser(known) : null;
    if (found) return found;
    // The record is written before its username and email are claimed, so a claimed email
    // always points at an existing record with a claimed username (a crash in between leaves
    // only an unreferenced record behind, and perhaps a stale username entry).
    let stored: User | null = null;
    for (const candidate of usernameCandidates(
      initialUsername(user.username, email, this.reserved),
      suffix,
      this.reserved,
    )) {
      const record: User = { ...user, email, username: candidate };
      await this.ctx.client.set(this.ctx.key('u', user.id), JSON.stringify(record));
      if (await this.claimUsername(candidate, user.id)) {
        stored = record;
        break;
      }
    }
    if (!stored) throw new Error('unreachable: usernameCandidates never ends');
    const claimed = await this.ctx.client.set(this.ctx.key('ue', email), user.id, 'NX');
    if (claimed !== 'OK') {
      const owner = await this.ctx.client.get(this.ctx.key('ue', email));
      if (owner !== user.id) {
        await this.ctx.client.del(this.ctx.key('u', user.id));
        await this.releaseUsername(stored.username, user.id);
        const existing = owner ? await this.getUser(owner) : null;
        if (existing) return existing;
        throw new Error('user email index points at a missing user');
      }
    }
    await this.ctx.client.zadd(this.ctx.key('index', 'users'), 0, `${email}\u0000${user.id}`);
    if (!stored.active) await this.floors.voidLinks(email);
    return stored;
  }

  async updateUser(user: UserInput): Promise<void> {
    const email = user.email.toLowerCase();
    const previous = await this.getUser(user.id);
    if (!previous) {
      // Not stored (or deleted meanwhile): an update that creates, as it always did.
      const created = await this.createUser(user);
      if (created.id !== user.id) throw new EmailTakenError(email);
      return;
    }
    if (previous.email !== email) {
      const claimed = await this.ctx.client.set(this.ctx.key('ue', email), user.id, 'NX');
      if (claimed !== 'OK' && (await this.ctx.client.get(this.ctx.key('ue', email))) !== user.id)
        throw new EmailTakenError(email);
    }
    // Compare-and-set, so the stored username wins over the one `user` was read with (a
    // concurrent `setUsername` is never undone by a sign-in or a SCIM write).
    const key = this.ctx.key('u', user.id);
    let next: User = { ...user, email, username: previous.username };
    for (;;) {
      const data = await this.ctx.client.get(key);
      if (!data) {
        // Deleted meanwhile: never written back (its username is free for others by now).
        if (previous.email !== email)
          await this.ctx.scripts.psDelIfEquals(this.ctx.key('ue', email), user.id);
        return;
      }
      const current = JSON.parse(data) as StoredUser;
      if (typeof current.username !== 'string') {
        // Written by an instance from before usernames.
        await this.migrate(user.id);
        continue;
      }
      next = { ...user, email, username: current.username };
      if (Number(await this.ctx.scripts.psSetIfEquals(key, data, JSON.stringify(next))) === 1)
        break;
    }
    if (previous.email !== email) {
      await this.ctx.client.del(this.ctx.key('ue', previous.email));
      await this.ctx.client.zrem(
        this.ctx.key('index', 'users'),
        `${previous.email}\u0000${user.id}`,
      );
    }
    await this.ctx.client.zadd(this.ctx.key('index', 'users'), 0, `${email}\u0000${user.id}`);
    await voidLinksOnDeactivation(this.floors, previous, next, email);
  }

  async setUsername(id: string, username: string): Promise<SetUsernameResult> {
    const found = await this.getUser(id);
    if (!found) return { kind: 'missing' };
    const wanted = usernameKey(username);
    if (usernameKey(found.username) !== wanted && !(await this.claimUsername(username, id)))
      return { kind: 'taken' };
    const key = this.ctx.key('u', id);
    for (;;) {
      const data = await this.ctx.client.get(key);
      if (!data) {
        await this.releaseUsername(username, id);
        return { kind: 'missing' };
      }
      const current = JSON.parse(data) as StoredUser;
      const next: User = { ...current, username };
      if (Number(await this.ctx.scripts.psSetIfEquals(key, data, JSON.stringify(next))) !== 1)
        continue;
      if (typeof current.username === 'string' && usernameKey(current.username) !== wanted)
        await this.releaseUsername(current.username, id);
      return { kind: 'ok', user: next };
    }
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
      const users = all.filter((u): u is User => u !== null && matches(u, needle));
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
    await this.releaseUsername(user.username, id);
    await this.ctx.client.zrem(this.ctx.key('index', 'users'), `${user.email}\u0000${id}`);
    await this.audit.dropTrail(id);
    await this.floors.voidLinks(user.email);
  }
}
