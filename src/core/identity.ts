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
}
