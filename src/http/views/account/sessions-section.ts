import { html, type SafeHtml } from '../../../html.js';
import type { AccountPageView } from '../account-page.js';
import { loginMethodName } from '../login-method-name.js';
import { describeUserAgent } from '../user-agent.js';
import { when } from '../when.js';
import { actionForm } from './forms.js';

/** "Where you are signed in": this device first, the others each with an "End" button. */
export function sessionsSection(view: AccountPageView): SafeHtml {
  // This device first, then the most recently seen.
  const current = view.currentSessionId;
  const sessions = [...view.sessions].sort((a, b) =>
    a.id === current ? -1 : b.id === current ? 1 : b.lastSeenAt - a.lastSeenAt,
  );
  const others = sessions.filter((s) => s.id !== current).length;
  return html`<h2 id="sessions">Where you are signed in (${sessions.length})</h2>
<div class="table-wrap"><table aria-labelledby="sessions">
<thead><tr><th scope="col">Device</th><th scope="col">Last active</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>
${sessions.map((s) => {
  const device = describeUserAgent(s.userAgent);
  const ip = s.ip || 'unknown address';
  const isCurrent = s.id === current;
  return html`<tr${isCurrent ? html` aria-current="true"` : ''}>
<td>${device}${isCurrent ? html` <span class="badge current">this device</span>` : ''}<br><span class="muted">${ip} · ${loginMethodName(s.method, view.oidcName)}</span></td>
<td>${when(s.lastSeenAt)}</td>
<td>${
    isCurrent
      ? html`<a href="${view.prefix}/logout">Sign out</a>`
      : actionForm(
          view,
          'end_session',
          html`<input type="hidden" name="session" value="${s.id}">
<button type="submit" class="small danger secondary" aria-label="End the session on ${device} from ${ip}">End</button>
`,
        )
  }</td>
</tr>`;
})}
</tbody></table></div>
${
  others > 0
    ? actionForm(
        view,
        'end_other_sessions',
        html`<button type="submit" class="danger secondary">Sign out everywhere else (${others})</button>
`,
        'bar',
      )
    : html`<p class="muted">You are signed in on this device only.</p>`
}`;
}
