import {
  type Group,
  type GroupDirectory,
  GroupNameTakenError,
  type GroupPage,
  GroupVersionConflictError,
} from '../../ports/groups.js';

export class MemoryGroups implements GroupDirectory {
  private readonly groups = new Map<string, Group>();
  /** Lower-cased display name to group id. */
  private readonly groupNames = new Map<string, string>();

  async getGroup(id: string): Promise<Group | null> {
    const group = this.groups.get(id);
    return group ? structuredClone(group) : null;
  }

  async getGroupByName(displayName: string): Promise<Group | null> {
    const id = this.groupNames.get(displayName.toLowerCase());
    return id ? this.getGroup(id) : null;
  }

  async createGroup(group: Group): Promise<Group> {
    const name = group.displayName.toLowerCase();
    const existing = this.groupNames.get(name);
    if (existing) return (await this.getGroup(existing)) as Group;
    this.groups.set(group.id, structuredClone(group));
    this.groupNames.set(name, group.id);
    return structuredClone(group);
  }

  async updateGroup(group: Group): Promise<Group> {
    const previous = this.groups.get(group.id);
    if (!previous || previous.version !== group.version)
      throw new GroupVersionConflictError(group.id);
    const name = group.displayName.toLowerCase();
    const owner = this.groupNames.get(name);
    if (owner !== undefined && owner !== group.id) throw new GroupNameTakenError(group.displayName);
    const previousName = previous.displayName.toLowerCase();
    if (previousName !== name) this.groupNames.delete(previousName);
    const stored = { ...structuredClone(group), version: group.version + 1 };
    this.groups.set(group.id, stored);
    this.groupNames.set(name, group.id);
    return structuredClone(stored);
  }

  async deleteGroup(id: string, version?: number): Promise<void> {
    const group = this.groups.get(id);
    if (version !== undefined && group?.version !== version)
      throw new GroupVersionConflictError(id);
    if (!group) return;
    this.groups.delete(id);
    const name = group.displayName.toLowerCase();
    if (this.groupNames.get(name) === id) this.groupNames.delete(name);
  }

  async listGroups(query: { offset: number; limit: number }): Promise<GroupPage> {
    const key = (g: Group) => `${g.displayName.toLowerCase()}\u0000${g.id}`;
    const all = [...this.groups.values()].sort((a, b) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0,
    );
    return {
      groups: all.slice(query.offset, query.offset + query.limit).map((g) => structuredClone(g)),
      total: all.length,
    };
  }
}
