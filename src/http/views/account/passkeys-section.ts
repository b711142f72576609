import { html, type SafeHtml } from '../../../html.js';
import { PASSKEY_ENROL_PATH } from '../../login/passkey-enrol.js';
import type { AccountPageView } from '../account-page.js';
import { when } from '../when.js';
import { stepButtons } from './forms.js';

/** A passkey as the account page lists it: never its public key or counter. */
export interface PasskeyRow {
  id: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  /** The BS flag of its last ceremony: the passkey is synced (iCloud Keychain, Google, …). */
  backedUp: boolean;
}

/** Where "Add a passkey" leads: the enrolment page, coming back here afterwards. */
export function passkeyEnrolUrl(prefix: string): string {
  return `${prefix}${PASSKEY_ENROL_PATH}?rd=${encodeURIComponent(`${prefix}/account`)}`;
}

/** "Passkeys": each with rename and remove, and a link to add one here. */
export function passkeysSection(view: AccountPageView, passkeys: readonly PasskeyRow[]): SafeHtml {
  return html`<h2 id="passkeys">Passkeys</h2>
<p class="muted">Sign in with your fingerprint, face or screen lock instead of waiting for an email.</p>
${
  passkeys.length === 0
    ? html`<p class="muted">You have no passkeys yet.</p>`
    : html`<div class="table-wrap"><table aria-labelledby="passkeys">
<thead><tr><th scope="col">Passkey</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>
${passkeys.map(
  (p) => html`<tr>
<td><strong>${p.name}</strong>${p.backedUp ? html` <span class="badge info" title="Backed up and synced to your other devices by your password manager">synced</span>` : ''}<br><span class="muted">added ${when(p.createdAt)}</span><br><span class="muted">last used ${p.lastUsedAt === null ? 'never' : when(p.lastUsedAt)}</span></td>
<td>${stepButtons(
    view,
    { passkey: p.id },
    html`<button type="submit" name="step" value="rename_passkey" class="small secondary" aria-label="Rename the passkey ${p.name}">Rename</button>
<button type="submit" name="step" value="remove_passkey" class="small danger secondary" aria-label="Remove the passkey ${p.name}">Remove</button>
`,
  )}</td>
</tr>`,
)}
</tbody></table></div>`
}
${view.passkeyEnrolment ? html`<p><a href="${passkeyEnrolUrl(view.prefix)}">Add a passkey on this device</a></p>` : ''}`;
}
