import type { AuditRecord } from '../../../services/audit.js';
import type { LiveSession } from '../../../services/sessions.js';
import type { AccountPageView } from '../../views/account-page.js';
import type { AccountRouteDeps } from '../account.js';
import type { MessageKey } from './messages.js';

/** What the account page shows besides the lists it loads itself. */
export interface RenderState {
  message: AccountPageView['message'];
  issued: AccountPageView['issued'];
  draft: AccountPageView['draft'];
  recoveryCodes?: readonly string[] | null;
}

/** One POST /auth/account as a section's action sees it: the form, the signed-in user. */
export interface ActionContext {
  deps: AccountRouteDeps;
  form: URLSearchParams;
  live: LiveSession;
  /** The audit record's parties: the user acts on themself. */
  who: AuditRecord;
}

/**
 * How an action is answered: 303 back to the page with its message; 303 to a step that asks
 * first; or the page itself (a new token or recovery codes are shown once, in no URL).
 */
export type ActionOutcome =
  | { kind: 'back'; done: MessageKey }
  | { kind: 'ask'; location: string }
  | { kind: 'render'; state: RenderState; status?: number };

export function back(done: MessageKey): ActionOutcome {
  return { kind: 'back', done };
}
