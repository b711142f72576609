import type { AdminOutcome } from '../../services/admin.js';
import type { FormError } from '../views/admin-common.js';
import type { AdminConfirm } from '../views/admin-user.js';

/** Which page of the panel to show after an action. */
export type Screen =
  | { kind: 'list' }
  | { kind: 'user'; userId: string; confirm?: AdminConfirm }
  | { kind: 'groups' }
  | { kind: 'group'; groupId: string; confirmDelete: boolean };

/** What an action leaves for the page it shows next. */
export interface ActionResult {
  screen: Screen;
  outcome: AdminOutcome;
  formError?: FormError;
  issuedToken?: { name: string; token: string; expiresAt: number | null };
}

export const info = (text: string): AdminOutcome => ({
  notices: [{ kind: 'info', text }],
  links: [],
});
export const error = (text: string): AdminOutcome => ({
  notices: [{ kind: 'error', text }],
  links: [],
});
export const none = (): AdminOutcome => ({ notices: [], links: [] });
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
