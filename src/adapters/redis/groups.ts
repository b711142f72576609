import {
  type Group,
  type GroupDirectory,
  GroupNameTakenError,
  type GroupPage,
  GroupVersionConflictError,
} from '../../ports/groups.js';
import type { RedisContext } from './context.js';

/** A stored group; records written before versions existed read as version 0. */
function parseGroup(data: string): Group {
  const group = JSON.parse(data) as Group;
  return { ...group, version: group.version ?? 0 };
}

/**
 * Keys: `g:<id>` a group record (JSON), `gn:<lower-cased name>` the name index (group id),
 * `index:groups` a sorted set of `<name>\0<id>` (all scores 0, so ordered by name).
 */
export class RedisGroups implements GroupDirectory {
  constructor(private readonly ctx: RedisContext) {}

  async getGroup(id: string): Promise<Group | null> {
    const data = await this.ctx.client.get(this.ctx.key('g', id));
    return data ? parseGroup(data) : null;
  }

  async getGroupByName(displayName: string): Promise<Group | null> {
    const id = await this.ctx.client.get(this.ctx.key('gn', displayName.toLowerCase()));
    return id ? this.getGroup(id) : null;
  }

  async createGroup(group: Group): Promise<Group> {
    const name = group.displayName.toLowerCase();
    // As for users: the record first, then the name claim (SET NX decides between racing creators).
    await this.ctx.client.set(this.ctx.key('g', group.id), JSON.stringify(group));
    const claimed = await this.ctx.client.set(this.ctx.key('gn', name), group.id, 'NX');
    if (claimed !== 'OK') {
      const owner = await this.ctx.client.get(this.ctx.key('gn', name));
      if (owner !== group.id) {
        await this.ctx.client.del(this.ctx.key('g', group.id));
        const existing = owner ? await this.getGroup(owner) : null;
        if (existing) return existing;
        throw new Error('group name index points at a missing group');
      }
    }
    await this.ctx.client.zadd(this.ctx.key('index', 'groups'), 0, `${name}\u0000${group.id}`);
    return group;
  }

  /*
   * The record is written by one single-key compare-and-set script (psGroupCas), so two
   * instances that read the same version cannot both write: the loser gets
   * GroupVersionConflictError and redoes its change on the newer record. The name index stays
   * as for createGroup: a new name is claimed with SET NX before the write (the claim decides
   * between groups racing for one name), the old name released afterwards only while it still
   * names this group. A claim made for a write that then lost its compare-and-set is released
   * unless the record now stored carries that name (the winner renamed it the same way). The one
   * window left: a third write renaming the group to that same name between the failed script
   * and the release; the name index then misses the group until its next rename.
   */
  async updateGroup(group: Group): Promise<Group> {
    const name = group.displayName.toLowerCase();
    const current = await this.getGroup(group.id);
    if (!current || current.version !== group.version)
      throw new GroupVersionConflictError(group.id);
    let claimedNow = false;
    if (current.displayName.toLowerCase() !== name) {
      const claimed = await this.ctx.client.set(this.ctx.key('gn', name), group.id, 'NX');
      claimedNow = claimed === 'OK';
      if (!claimedNow && (await this.ctx.client.get(this.ctx.key('gn', name))) !== group.id)
        throw new GroupNameTakenError(group.displayName);
    }
    const stored: Group = { ...group, version: group.version + 1 };
    const [wrote, data] = (await this.ctx.scripts.psGroupCas(
      this.ctx.key('g', group.id),
      String(group.version),
      JSON.stringify(stored),
    )) as [number, string | null];
    if (Number(wrote) !== 1) {
      const now = data ? parseGroup(data) : null;
      if (claimedNow && now?.displayName.toLowerCase() !== name)
        await this.ctx.scripts.psDelIfEquals(this.ctx.key('gn', name), group.id);
      throw new GroupVersionConflictError(group.id);
    }
    const previousName = parseGroup(data as string).displayName.toLowerCase();
    if (previousName !== name) {
      await this.ctx.scripts.psDelIfEquals(this.ctx.key('gn', previousName), group.id);
      await this.ctx.client.zrem(
        this.ctx.key('index', 'groups'),
        `${previousName}\u0000${group.id}`,
      );
    }
    await this.ctx.client.zadd(this.ctx.key('index', 'groups'), 0, `${name}\u0000${group.id}`);
    return stored;
  }

  async deleteGroup(id: string, version?: number): Promise<void> {
    let group: Group | null;
    if (version === undefined) {
      group = await this.getGroup(id);
      if (!group) return;
      await this.ctx.client.del(this.ctx.key('g', id));
    } else {
      // One script reads the version and deletes, so no write can land between the two.
      const [deleted, data] = (await this.ctx.scripts.psGroupCad(
        this.ctx.key('g', id),
        String(version),
      )) as [number, string | null];
      if (Number(deleted) !== 1 || !data) throw new GroupVersionConflictError(id);
      group = parseGroup(data);
    }
    const name = group.displayName.toLowerCase();
    await this.ctx.scripts.psDelIfEquals(this.ctx.key('gn', name), id);
    await this.ctx.client.zrem(this.ctx.key('index', 'groups'), `${name}\u0000${id}`);
  }

  async listGroups(query: { offset: number; limit: number }): Promise<GroupPage> {
    const index = this.ctx.key('index', 'groups');
    const total = await this.ctx.client.zcard(index);
    if (query.limit <= 0 || query.offset >= total) return { groups: [], total };
    const page = await this.ctx.client.zrange(index, query.offset, query.offset + query.limit - 1);
    const ids = page.map((m) => m.slice(m.indexOf('\u0000') + 1));
    const loaded = await Promise.all(ids.map((id) => this.getGroup(id)));
    return { groups: loaded.filter((g): g is Group => g !== null), total };
  }
}
