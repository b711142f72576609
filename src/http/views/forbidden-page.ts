import { html, type SafeHtml } from '../../html.js';

/** Who was refused, as the page names them. */
export interface RefusedAccount {
  email: string;
  username: string;
}

export interface ForbiddenView {
  /**
   * Absolute base of portcullis' pages (origin + path prefix). The page is often shown on the
   * app's host (Traefik and Caddy pass our body on; nginx serves it from `error_page 403`), where
   * a relative `/auth/...` would reach the app, not us.
   */
  base: string;
  /** The signed-in account; null when the request carried no session (plain "not allowed"). */
  who: RefusedAccount | null;
  /** The refused URL, already checked with safeRedirect; null when it is unknown or not ours. */
  target: string | null;
  /** Groups any one of which would open the page, when that is what stood in the way. */
  groups: readonly string[] | null;
  /** The session-bound CSRF token for the sign-out forms; required when `who` is set. */
  csrf: string;
}

export const FORBIDDEN_TITLE = 'Not allowed';

function groupHint(groups: readonly string[]): SafeHtml {
  if (groups.length === 1) {
    return html`<p>This page is open to members of the group <strong>${groups[0]}</strong>. Ask an administrator to add you, or sign in with an account that has it.</p>`;
  }
  const list = groups.map(
    (group, i) =>
      html`${i === 0 ? '' : i === groups.length - 1 ? ' or ' : ', '}<strong>${group}</strong>`,
  );
  return html`<p>This page is open to members of the groups ${list}. Ask an administrator to add you, or sign in with an account that has one of them.</p>`;
}

function loginUrl(view: ForbiddenView): string {
  return view.target === null
    ? `${view.base}/login`
    : `${view.base}/login?rd=${encodeURIComponent(view.target)}`;
}

/**
 * "Signed in, but not allowed": who the person is, that this account may not open this page
 * (with the group that would, when that is the reason), and the ways on: sign in as someone
 * else (signs out, then the login page back to the page), sign out, their account page. No
 * script; the forms post to `/logout`, which checks the token and the origin.
 */
export function forbiddenPageBody(view: ForbiddenView): SafeHtml {
  const who = view.who;
  if (who === null) {
    return html`<h1>${FORBIDDEN_TITLE}</h1>
<p class="message error" role="alert">You are not allowed to open this page.</p>
${
  view.target === null
    ? ''
    : html`<p class="muted">Page: <code>${view.target}</code></p>
`
}<p>If you have an account that may open it, sign in with that one.</p>
<a class="button" href="${loginUrl(view)}">Sign in</a>`;
  }
  const named =
    who.username !== '' && who.username.toLowerCase() !== who.email.toLowerCase()
      ? html` (${who.username})`
      : '';
  return html`<h1>${FORBIDDEN_TITLE}</h1>
<p class="message error" role="alert">This account may not open this page.</p>
${
  view.target === null
    ? ''
    : html`<p class="muted">Page: <code>${view.target}</code></p>
`
}<div class="signed-in">
<p>You are signed in as<br><strong class="address">${who.email}</strong>${named}.</p>
</div>
${view.groups !== null && view.groups.length > 0 ? groupHint(view.groups) : html`<p>Ask an administrator for access, or sign in with another account.</p>`}
<form method="post" action="${view.base}/logout">
<input type="hidden" name="csrf" value="${view.csrf}">
${
  view.target === null
    ? ''
    : html`<input type="hidden" name="rd" value="${view.target}">
`
}<button type="submit">Sign in as someone else</button>
</form>
<form method="post" action="${view.base}/logout">
<input type="hidden" name="csrf" value="${view.csrf}">
<button type="submit" class="secondary">Sign out</button>
</form>
<p class="muted"><a href="${view.base}/account">Your account</a></p>`;
}
