import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeRedirect } from '../../core/redirect.js';
import type { AppContext } from '../context.js';
import { html } from '../html.js';
import { renderPage } from '../pages.js';

export const LOGIN_MESSAGES: Record<string, { kind: 'error' | 'info'; text: string }> = {
  link_used: {
    kind: 'error',
    text: 'This link was already used or has expired. Ask for a new one.',
  },
  signed_out: { kind: 'info', text: 'You are signed out.' },
  not_allowed: {
    kind: 'error',
    text: 'This account is not allowed to sign in. Ask an administrator.',
  },
};

/** GET /auth/login — the sign-in page (the full form per method comes with the login methods). */
export function handleLoginPage(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): void {
  const rd = safeRedirect(query.get('rd'), ctx.config.redirectPolicy);
  const message = LOGIN_MESSAGES[query.get('error') ?? query.get('info') ?? ''];
  renderPage(
    ctx,
    req,
    res,
    200,
    'Sign in',
    html`<h1>Sign in</h1>
${message ? html`<p class="message ${message.kind}" role="status">${message.text}</p>` : ''}
<p>Ask an administrator for a sign-in link.</p>
<p class="muted">You will be sent back to <code>${rd}</code> afterwards.</p>`,
  );
}
