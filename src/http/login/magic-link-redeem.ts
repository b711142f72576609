import { normalizeEmail } from '../../core/email.js';
import { describeDuration } from '../../mail/describe-duration.js';
import { ANONYMOUS_ACTOR, type AuditLog } from '../../services/audit.js';
import type { LoginLinks } from '../../services/login-links.js';
import type { UserService } from '../../services/users.js';
import { auditSource } from '../audit-source.js';
import { readForm } from '../body.js';
import type { Handler, PageDeps } from '../handler.js';
import { renderPage } from '../pages.js';
import { redirect } from '../respond.js';
import { magicConfirmBody } from '../views/magic-confirm.js';
import { type DeadLinkReason, deadLinkTitle, magicDeadLinkBody } from '../views/magic-dead-link.js';
import type { FinishLogin } from './finish-login.js';

export interface MagicRedeemDeps extends PageDeps {
  loginLinks: Pick<LoginLinks, 'inspect' | 'redeem' | 'ttl'>;
  users: Pick<UserService, 'findOrCreate'>;
  audit: Pick<AuditLog, 'record'>;
  finish: FinishLogin;
}

export interface MagicRedeemRoutes {
  /**
   * GET /auth/magic?token= — only shows a button. Mail scanners fetch links to look at them; if
   * a GET used the token, the person would find their link already spent. The page names the
   * account the link signs into, so someone who opens a link forwarded to them (or planted on
   * them) sees it is not theirs before pressing the button. A link that can no longer work is
   * said so at once, with why and the form for a new one; reading it leaves it as it was.
   *
   * Statuses: 410 Gone for a link that was real and is over (used, expired, replaced: asking
   * again will not bring it back); 404 for a well-formed link we do not know; 400 for a token
   * that is not the shape of any link (the request itself is wrong). None is a 2xx, so a
   * scanner or a script never takes a dead link's page for a working one.
   */
  confirm: Handler;
  /** POST /auth/magic — uses the link once, starts a session, sends the browser on. */
  redeem: Handler;
}

export function magicRedeemRoutes(deps: MagicRedeemDeps): MagicRedeemRoutes {
  const linkUsed = `${deps.prefix}/login?error=link_used`;
  return {
    async confirm(req, res, query) {
      const token = query.get('token') ?? '';
      const csrf = deps.csrf.token(req);
      const headers = csrf.setCookie ? ['Set-Cookie', csrf.setCookie] : [];
      const link = await deps.loginLinks.inspect(token);
      if (link.state !== 'live') {
        const reason: DeadLinkReason =
          link.state === 'unknown' || link.state === 'malformed' ? 'invalid' : link.state;
        const known = 'email' in link && link.email ? link.email : null;
        const status = link.state === 'malformed' ? 400 : link.state === 'unknown' ? 404 : 410;
        renderPage(
          deps.chrome,
          req,
          res,
          status,
          deadLinkTitle(reason),
          magicDeadLinkBody({
            prefix: deps.prefix,
            csrf: csrf.token,
            reason,
            ttl: describeDuration(deps.loginLinks.ttl),
            rd: ('rd' in link && link.rd) || '/',
            email: known ? (normalizeEmail(known) ?? '') : '',
          }),
          headers,
        );
        return;
      }
      renderPage(
        deps.chrome,
        req,
        res,
        200,
        'Confirm sign-in',
        magicConfirmBody({
          prefix: deps.prefix,
          token,
          csrf: csrf.token,
          email: normalizeEmail(link.email) ?? link.email,
        }),
        headers,
      );
    },

    async redeem(req, res) {
      const form = await readForm(req);
      deps.csrf.checkFormOrigin(req, form);
      const redeemed = await deps.loginLinks.redeem(form.get('token') ?? '');
      const email = redeemed ? normalizeEmail(redeemed.email) : null;
      if (!redeemed || !email) {
        // Whose link it was is unknown (or not to be believed): the line names only the request.
        await deps.audit.record(
          { event: 'auth.login_failed', method: 'magic_link', reason: 'dead_link' },
          { actor: ANONYMOUS_ACTOR, source: auditSource(deps.proxies, req) },
        );
        redirect(res, 303, linkUsed);
        return;
      }
      const user = await deps.users.findOrCreate(email);
      if (!user.active) {
        await deps.audit.record(
          { event: 'auth.login_failed', method: 'magic_link', reason: 'deactivated' },
          { actor: user, subject: user, source: auditSource(deps.proxies, req) },
        );
        redirect(res, 303, `${deps.prefix}/login?error=not_allowed`);
        return;
      }
      await deps.finish(req, res, user, 'magic_link', redeemed.rd);
    },
  };
}
