import type { IncomingMessage, ServerResponse } from 'node:http';
import { normalizeEmail } from '../../core/email.js';
import { finishLogin } from '../../login/flow.js';
import { readForm } from '../body.js';
import type { AppContext } from '../context.js';
import { checkFormOrigin, csrfToken } from '../csrf.js';
import { html } from '../html.js';
import { renderPage } from '../pages.js';
import { redirect } from '../respond.js';

/**
 * GET /auth/magic?token= — only shows a button. Mail scanners fetch links to look at them; if
 * a GET used the token, the person would find their link already spent.
 */
export function handleMagicConfirm(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): void {
  const token = query.get('token') ?? '';
  const csrf = csrfToken(ctx, req);
  const headers = csrf.setCookie ? ['Set-Cookie', csrf.setCookie] : [];
  if (token === '' || token.length > 2048) {
    redirect(res, 303, `${ctx.config.prefix}/login?error=link_used`, headers);
    return;
  }
  renderPage(
    ctx,
    req,
    res,
    200,
    'Confirm sign-in',
    html`<h1>Confirm sign-in</h1>
<p>Press the button to finish signing in on this device.</p>
<form method="post" action="${ctx.config.prefix}/magic">
<input type="hidden" name="token" value="${token}">
<input type="hidden" name="csrf" value="${csrf.token}">
<button type="submit" autofocus>Sign in</button>
</form>`,
    headers,
  );
}

/** POST /auth/magic — uses the link once, starts a session, sends the browser on. */
export async function handleMagicRedeem(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = await readForm(req);
  checkFormOrigin(ctx, req, form);
  const linkUsed = `${ctx.config.prefix}/login?error=link_used`;
  const redeemed = await ctx.loginLinks.redeem(form.get('token') ?? '');
  const email = redeemed ? normalizeEmail(redeemed.email) : null;
  if (!redeemed || !email) {
    redirect(res, 303, linkUsed);
    return;
  }
  const user = await ctx.users.findOrCreate(email);
  if (!user.active) {
    redirect(res, 303, `${ctx.config.prefix}/login?error=not_allowed`);
    return;
  }
  await finishLogin(ctx, req, res, user, 'magic_link', redeemed.rd);
}
