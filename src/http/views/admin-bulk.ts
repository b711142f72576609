import { html, type SafeHtml } from '../../html.js';
import type { BulkAction } from '../../services/admin.js';
import { addressHtml, listUrl, type PanelContext, panelForm, userUrl } from './admin-common.js';

/** One ticked user as a bulk action sees them. */
export interface BulkTarget {
  id: string;
  email: string;
  /** Their open sessions. */
  sessions: number;
  /** Their app tokens that still work; null when app tokens are turned off. */
  tokens: number | null;
  /** The admin doing it. */
  self: boolean;
}

/** Why a ticked user is left out of an action. */
export type SkipReason =
  | 'self'
  | 'already_active'
  | 'already_deactivated'
  | 'deactivated'
  | 'already_admin'
  | 'config_admin'
  | 'not_admin'
  | 'no_sessions';

/** What a bulk action would do: to whom, and whom it leaves out and why. */
export interface BulkPlan {
  action: BulkAction;
  fits: BulkTarget[];
  skips: { target: BulkTarget; reason: SkipReason }[];
  /** Ticked users that no longer exist. */
  missing: number;
}

/** Where the confirmation came from, to go back there (the list with its search, or a user). */
export interface BulkBack {
  search: string;
  page: number;
  /** The user's page it was asked from, or null for the list. */
  view: string | null;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Actions that cannot be taken back by one click: shown in the danger style. */
const DANGER: ReadonlySet<BulkAction> = new Set([
  'deactivate',
  'logout_everywhere',
  'unmake_admin',
]);

export function skipText(action: BulkAction, reason: SkipReason): string {
  switch (reason) {
    case 'self':
      return action === 'unmake_admin'
        ? 'that is you: you cannot remove your own admin rights'
        : 'that is you: you cannot deactivate yourself';
    case 'already_active':
      return 'already active';
    case 'already_deactivated':
      return 'already deactivated';
    case 'deactivated':
      return 'deactivated: reactivate them before handing out a link';
    case 'already_admin':
      return 'already an admin';
    case 'config_admin':
      return 'an admin through the config (admin.emails or admin.groups): change it there';
    case 'not_admin':
      return 'not an admin';
    case 'no_sessions':
      return 'no open sessions';
  }
}

/** What happens to one user, in a sentence without its subject. */
function consequence(action: BulkAction, t: BulkTarget): string {
  const sessions =
    t.sessions === 0
      ? 'they have no open session'
      : `their ${plural(t.sessions, 'session')} end${t.sessions === 1 ? 's' : ''} now`;
  switch (action) {
    case 'deactivate':
      return [
        'can no longer sign in',
        sessions,
        ...(t.tokens
          ? [`their ${plural(t.tokens, 'app token')} stop${t.tokens === 1 ? 's' : ''} working`]
          : []),
      ].join('; ');
    case 'logout_everywhere':
      return `is signed out everywhere: ${sessions}${t.self ? ', this one included (you will be signed out)' : ''}; they can sign in again`;
    case 'activate':
      return 'can sign in again';
    case 'login_url':
      return 'gets a login URL that works once, shown to you on the next page';
    case 'make_admin':
      return 'can open this admin panel and change any account';
    case 'unmake_admin':
      return 'can no longer open the admin panel';
  }
}

function question(
  action: BulkAction,
  fits: readonly BulkTarget[],
): { heading: SafeHtml; button: string } {
  const n = fits.length;
  const who = n === 1 && fits[0] ? addressHtml(fits[0].email) : plural(n, 'user');
  const users = plural(n, 'user');
  switch (action) {
    case 'deactivate':
      return { heading: html`Deactivate ${who}?`, button: `Deactivate ${users}` };
    case 'logout_everywhere':
      return { heading: html`Log ${who} out everywhere?`, button: `Log ${users} out everywhere` };
    case 'activate':
      return { heading: html`Reactivate ${who}?`, button: `Reactivate ${users}` };
    case 'login_url':
      return {
        heading: html`Get a login URL for ${who}?`,
        button: `Get ${plural(n, 'login URL')}`,
      };
    case 'make_admin':
      return { heading: html`Make ${who} admin?`, button: `Make ${users} admin` };
    case 'unmake_admin':
      return { heading: html`Remove admin from ${who}?`, button: `Remove admin from ${users}` };
  }
}

/**
 * "Are you sure?" for a bulk action, as its own page (a form: no JavaScript). Lists what happens
 * to each user it fits and who it skips and why; the button sends only the users it fits.
 */
export function bulkConfirmSection(ctx: PanelContext, plan: BulkPlan, back: BulkBack): SafeHtml {
  const backUrl = back.view
    ? userUrl(ctx.prefix, back.view)
    : listUrl(ctx.prefix, back.search, back.page);
  const { heading, button } = question(plan.action, plan.fits);
  const hidden: Record<string, string> = {
    confirm: 'yes',
    q: back.search,
    page: String(back.page),
    ...(back.view ? { view: back.view } : {}),
  };
  const skipped =
    plan.skips.length > 0 || plan.missing > 0
      ? html`<h3 id="bulk-skipped">Skipped (${plan.skips.length + plan.missing})</h3>
<ul class="plan" aria-labelledby="bulk-skipped">
${plan.skips.map((s) => html`<li>${addressHtml(s.target.email)}: ${skipText(plan.action, s.reason)}.</li>`)}
${plan.missing > 0 ? html`<li>${plural(plan.missing, 'ticked user')} no longer exist${plan.missing === 1 ? 's' : ''}.</li>` : ''}
</ul>`
      : '';
  if (plan.fits.length === 0)
    return html`<p><a href="${backUrl}">← Back</a></p>
<section class="confirm" aria-labelledby="bulk-heading">
<h2 id="bulk-heading">Nothing to do</h2>
<p class="message error" role="alert">The action does not fit any of the ticked users; nothing was changed.</p>
${skipped}
</section>`;
  return html`<p><a href="${backUrl}">← Back</a></p>
<section class="confirm" aria-labelledby="bulk-heading">
<h2 id="bulk-heading">${heading}</h2>
<h3 id="bulk-changes">What happens</h3>
<ul class="plan" aria-labelledby="bulk-changes">
${plan.fits.map((t) => html`<li>${addressHtml(t.email)} ${consequence(plan.action, t)}.</li>`)}
</ul>
${skipped}
${panelForm(
  ctx,
  plan.action,
  hidden,
  html`${plan.fits.map((t) => html`<input type="hidden" name="user" value="${t.id}">`)}
<div class="bar"><button type="submit" class="${DANGER.has(plan.action) ? 'danger' : ''}">${button}</button>
<a href="${backUrl}">Cancel</a></div>`,
)}
</section>`;
}
