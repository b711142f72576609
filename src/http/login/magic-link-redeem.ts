import type { IncomingMessage, ServerResponse } from 'node:http';
import { normalizeEmail } from '../../core/email.js';
import { ANONYMOUS_ACTOR } from '../../services/audit.js';
import { auditSource } from '../audit-source.js';
import { readForm } from '../body.js';
import type { AppContext } from '../context.js';
import { checkFormOrigin, csrfToken } from '../csrf.js';
import { renderPage } from '../pages.js';
import { redirect } from '../respond.js';
import { magicConfirmBody } from '../views/magic-confirm.js';
import { finishLogin } from './finish-login.js';

/**
 * GET /auth/magic?token= — only shows a button. Mail scanners fetch links to look at them; if
 * a GET used the token, the person would find their link already spent. The page names the
 * account the link signs into, so someone who opens a link forwarded to them (or planted on
 * them) sees it is not theirs before pressing the button. A link that can no longer work is said
 * so at once, by the same redirect POST would give; reading it leaves it as it was.
 */
export async function handleMagicConfirm(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const token = query.get('token') ?? '';
  const csrf = csrfToken(ctx, req);
  const headers = csrf.setCookie ? ['Set-Cookie', csrf.setCookie] : [];
  const link = await ctx.loginLinks.peek(token);
  if (!link) {
    redirect(res, 303, `${ctx.config.prefix}/login?error=link_used`, headers);
    return;
  }
  renderPage(
    ctx,
    req,
    res,
    200,
    'Confirm sign-in',
    magicConfirmBody({
      prefix: ctx.config.prefix,
      token,
      csrf: csrf.token,
      email: normalizeEmail(link.email) ?? link.email,
    }),
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
    // Whose link it was is unknown (or not to be believed): the line names only the request.
    await ctx.audit.record(
      { event: 'auth.login_failed', method: 'magic_link', reason: 'dead_link' },
      { actor: ANONYMOUS_ACTOR, source: auditSource(ctx, req) },
    );
    redirect(res, 303, linkUsed);
    return;
  }
  const user = await ctx.users.findOrCreate(email);
  if (!user.active) {
    await ctx.audit.record(
      { event: 'auth.login_failed', method: 'magic_link', reason: 'deactivated' },
      { actor: user, subject: user, source: auditSource(ctx, req) },
    );
    redirect(res, 303, `${ctx.config.prefix}/login?error=not_allowed`);
    return;
  }
  await finishLogin(ctx, req, res, user, 'magic_link', redeemed.rd);
}
