import type { Group, GroupDirectory } from '../ports/groups.js';
import { pinnedValue } from './filter-pins.js';
import type { GroupProvisioning } from './group-provisioning.js';
import { GROUP_PATCH } from './patch-targets.js';
import type { ResourceKind } from './resource-service.js';
import { type GroupFields, groupFromScim, groupToScim } from './resources.js';

/** `/Groups`: how groups are read, found, shown and written. */
export function groupKind(
  groups: GroupDirectory,
  provisioning: GroupProvisioning,
  base: string,
): ResourceKind<Group, GroupFields> {
  return {
    name: 'Group',
    path: 'Groups',
    load: (id) => groups.getGroup(id),
    render: async (group) => groupToScim(group, base),
    plain: (group) => groupToScim(group, base),
    fields: groupFromScim,
    patchTarget: GROUP_PATCH,
    page: async (offset, limit) => {
      const result = await groups.listGroups({ offset, limit });
      return { items: result.groups, total: result.total };
    },
    find: async (filter, test) => {
      const id = pinnedValue(filter, 'id');
      const name = pinnedValue(filter, 'displayname');
      if (id !== null || name !== null) {
        const group =
          id !== null ? await groups.getGroup(id) : await groups.getGroupByName(name as string);
        return group && test(group) ? [group] : [];
      }
      const found: Group[] = [];
      for await (const group of provisioning.allGroups()) if (test(group)) found.push(group);
      return found;
    },
    create: (fields, source) => provisioning.createGroup(fields, source),
    replace: (existing, fields, source) => provisioning.replaceGroup(existing, fields, source),
    remove: (group, source) => provisioning.deleteGroup(group, source),
    retries: true,
  };
}
