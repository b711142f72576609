export interface Notice {
  kind: 'info' | 'error';
  text: string;
}

export interface IssuedLink {
  email: string;
  url: string;
}

/** What an admin action did, for the page to show at the top. */
export interface AdminOutcome {
  notices: Notice[];
  links: IssuedLink[];
}
