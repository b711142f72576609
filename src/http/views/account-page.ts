import { html, type SafeHtml } from '../../html.js';
import type { Session } from '../../ports/sessions.js';
import { type PasskeyRow, passkeysSection } from './account/passkeys-section.js';
import { sessionsSection } from './account/sessions-section.js';
import { type ExpiryChoice, type TokenRow, tokensSection } from './account/tokens-section.js';
import { type TwoStepView, twoStepSection } from './account/two-step-section.js';

// Each section of the page is its own file under account/; the step pages are account/step-page.ts.
export {
  type PasskeyRow,
  passkeyEnrolUrl,
} from './account/passkeys-section.js';
export {
  type AccountStep,
  type AccountStepView,
  accountStepBody,
} from './account/step-page.js';
export type { ExpiryChoice, TokenRow } from './account/tokens-section.js';
export { type TwoStepView, totpSetupUrl } from './account/two-step-section.js';

export interface AccountPageView {
  prefix: string;
  csrf: string;
  /** For "expired" in the tokens table. */
  now: number;
  user: { email: string; name: string; username: string };
  /** The session this page was loaded with: marked "this device", never offered "end". */
  currentSessionId: string;
  sessions: readonly Session[];
  /** null when `tokens.enabled` is false. */
  tokens: readonly TokenRow[] | null;
  /** A token just created: shown once, here and nowhere else. */
  issued: { name: string; token: string } | null;
  message: { kind: 'info' | 'error'; text: string } | null;
  /** The expiry choices offered, shortest first; `defaultExpiry` is the one selected. */
  expiryChoices: readonly ExpiryChoice[];
  defaultExpiry: string;
  /** What the token form held when it was refused, so it is not typed again. */
  draft: { name: string; expiry: string } | null;
  /** `auth.oidc.display_name`: how an `oidc` session is named. */
  oidcName: string;
  /** null: no passkeys section (`passkey` not enabled and the user has none). */
  passkeys: readonly PasskeyRow[] | null;
  /** Whether `passkey` is enabled: the page then offers to add one. */
  passkeyEnrolment: boolean;
  /** null: no two-step section (`basic` not enabled). */
  twoStep: TwoStepView | null;
  /** Recovery codes just made: shown once, here and nowhere else. */
  recoveryCodes: readonly string[] | null;
}

/** `/auth/account`: who I am, where I am signed in, my app tokens. Works without JavaScript. */
export function accountPageBody(view: AccountPageView): SafeHtml {
  const { user } = view;
  return html`<h1>Your account</h1>
${view.message ? html`<p class="message ${view.message.kind}" role="${view.message.kind === 'error' ? 'alert' : 'status'}">${view.message.text}</p>` : ''}
<p><strong class="address">${user.email}</strong>${user.name && user.name !== user.email ? html`<br><span class="muted">${user.name}</span>` : ''}<br><span class="muted">Username: ${user.username}</span></p>
${sessionsSection(view)}
${view.passkeys ? passkeysSection(view, view.passkeys) : ''}
${view.twoStep ? twoStepSection(view, view.twoStep) : ''}
${view.tokens ? tokensSection(view, view.tokens) : ''}
<p><a href="${view.prefix}/logout">Sign out</a></p>`;
}
