/** A user account (SPEC §4). Times are epoch milliseconds. */
export interface User {
  id: string;
  /**
   * What the `user` identity headers carry by default (`headers.user_value`, docs/usernames.md):
   * valid per `checkUsername`, unique case-insensitively. Set when the user is created (from
   * `createUser`'s wish, a free variant of it when taken) and changed only by `setUsername`.
   */
  username: string;
  /** Lower-cased; unique across users. */
  email: string;
  name: string;
  groups: string[];
  active: boolean;
  verified: boolean;
  createdAt: number;
  lastLoginAt: number | null;
  passwordHash?: string;
  externalId?: string;
  /**
   * SCIM `userName` exactly as the provisioning client last sent it (Entra ID's UPN, or the
   * email in the client's own spelling); unique case-insensitively. Absent: the email. Kept
   * apart from `username`: SCIM clients compare it with what they sent, while `username` must
   * be header-safe and stays stable for the apps behind portcullis when the IdP renames.
   */
  userName?: string;
  /**
   * `scim` when SCIM created the user. SCIM may change the email only of users it provisioned:
   * an email decides who can sign in to the account, and others were not the IdP's to give.
   */
  provisionedBy?: 'scim';
  /** SCIM `name.givenName` / `name.familyName`, kept so provisioning clients read back what they wrote. */
  givenName?: string;
  familyName?: string;
  admin?: boolean;
}

/** `updateUser` refuses to move a user onto an email another user already has. */
export class EmailTakenError extends Error {
  constructor(readonly email: string) {
    super(`email ${email} belongs to another user`);
    this.name = 'EmailTakenError';
  }
}

/**
 * A user as handed to `createUser` / `updateUser`: `username` is only a wish there (created
 * users get it, or a free variant of it; updates keep the stored one).
 */
export type UserInput = Omit<User, 'username'> & { username?: string };

export type SetUsernameResult =
  | { kind: 'ok'; user: User }
  /** Another user has this username, in any case. */
  | { kind: 'taken' }
  | { kind: 'missing' };

export interface UserPage {
  users: User[];
  total: number;
}

export interface UserDirectory {
  getUser(id: string): Promise<User | null>;
  getUserByEmail(email: string): Promise<User | null>;
  /** The user with this username, compared case-insensitively after NFKC. */
  getUserByUsername(username: string): Promise<User | null>;
  /**
   * Creates the user; returns the existing one instead when the email is taken. A user created
   * inactive has the link floor of its email moved, as on deactivation. Its username is
   * `initialUsername(user.username, email)`, or the first free `usernameCandidates` of it: a
   * taken name never fails a sign-up or a provisioning.
   */
  createUser(user: UserInput): Promise<User>;
  /**
   * Replaces the stored record (email changes keep the index in step); throws `EmailTakenError`
   * when the new email belongs to another user. Deactivating (active true → false) also moves
   * the link floor of the old and new email: every outstanding link is void for good, whatever
   * path (admin panel, SCIM) deactivates. The stored `username` is kept whatever `user` says,
   * also against a concurrent `setUsername`.
   */
  updateUser(user: UserInput): Promise<void>;
  /**
   * Renames the user. `username` must already pass `checkUsername`; the stored form is that
   * value. Changing only its case is allowed. The old name is free again afterwards.
   */
  setUsername(id: string, username: string): Promise<SetUsernameResult>;
  /**
   * Replaces only `groups`, with `change(current groups)`, atomically against every other write
   * to the user: a concurrent write is never lost, `change` runs again on the newer record
   * instead. Resolves true when the groups changed, false when they did not or the user is gone.
   */
  updateUserGroups(id: string, change: (groups: readonly string[]) => string[]): Promise<boolean>;
  listUsers(query: { search?: string; offset: number; limit: number }): Promise<UserPage>;
  /**
   * Removes the record and its email index entry (sessions and groups are the caller's), and
   * moves the link floor of its email: a later account at that address never inherits old links.
   * Its audit trail goes too.
   */
  deleteUser(id: string): Promise<void>;
}
