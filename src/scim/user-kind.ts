import type { User, UserDirectory } from '../ports/users.js';
import { pinnedEmail, pinnedValue } from './filter-pins.js';
import { USER_PATCH } from './patch-targets.js';
import type { ResourceKind } from './resource-service.js';
import { type UserFields, userFromScim, userToScim } from './resources.js';
import type { UserProvisioning } from './user-provisioning.js';

/** `/Users`: how users are read, found, shown and written. */
export function userKind(
  users: UserDirectory,
  provisioning: UserProvisioning,
  base: string,
): ResourceKind<User, UserFields> {
  return {
    name: 'User',
    path: 'Users',
    load: (id) => users.getUser(id),
    render: async (user) => userToScim(user, base, await provisioning.groupsOf(user)),
    plain: (user) => userToScim(user, base, []),
    fields: userFromScim,
    patchTarget: USER_PATCH,
    page: async (offset, limit) => {
      const result = await users.listUsers({ offset, limit });
      return { items: result.users, total: result.total };
    },
    find: async (filter, test) => {
      let found: User[] = [];
      const email = pinnedEmail(filter);
      const id = pinnedValue(filter, 'id');
      if (email !== null || id !== null) {
        const user =
          id !== null ? await users.getUser(id) : await users.getUserByEmail(email as string);
        found = user && test(user) ? [user] : [];
      }
      // A userName that is an address need not be its user's email (the email follows
      // `emails`): a miss by email is not a miss by userName.
      const scan =
        (email === null && id === null) ||
        (found.length === 0 && id === null && pinnedValue(filter, 'username') !== null);
      if (scan) for await (const user of provisioning.allUsers()) if (test(user)) found.push(user);
      return found;
    },
    create: (fields, source) => provisioning.createUser(fields, source),
    replace: (existing, fields, source) => provisioning.replaceUser(existing, fields, source),
    remove: (user, source) => provisioning.deleteUser(user, source),
    retries: false,
  };
}
