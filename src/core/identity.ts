/** Who a request is from, as the rules and the identity headers see it. */
export interface Identity {
  id: string;
  /** `User.username`; for `anonymous_user`, its id. */
  username: string;
  email: string;
  name: string;
  groups: readonly string[];
  /** True for `anonymous_user` in anonymous mode. */
  anonymous: boolean;
  /**
   * How the session behind this identity was authenticated (`AuthMethod` values, RFC 8176
   * style): [] for the anonymous user and app tokens. Absent reads as [], which meets no
   * `access.rules[].require` (`identityOf` builds an identity before its session adds `amr`).
   */
  amr?: readonly string[];
}

/** The identity of a signed-in user, before anything about the session (`amr`) is added. */
export function identityOf(
  user: Pick<Identity, 'id' | 'username' | 'email' | 'name' | 'groups'>,
): Identity {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    name: user.name,
    groups: user.groups,
    anonymous: false,
  };
}

/** `anonymous_user` as the rules and headers see it in anonymous mode: no groups, no factors. */
export function anonymousIdentity(anon: { id: string; email: string; name: string }): Identity {
  return {
    id: anon.id,
    username: anon.id,
    email: anon.email,
    name: anon.name,
    groups: [],
    anonymous: true,
    amr: [],
  };
}
