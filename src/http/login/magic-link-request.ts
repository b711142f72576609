import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import type { MagicLinkRequests } from '../../login/magic-link/request-link.js';
import { describeDuration, minutesUntil } from '../../mail/describe-duration.js';
import { ANONYMOUS_ACTOR, type AuditLog } from '../../services/audit.js';
import { auditSource } from '../audit-source.js';
import { readForm, refuseRepeated } from '../body.js';
import type { Csrf } from '../csrf.js';
import type { Handler } from '../handler.js';
import { renderPage } from '../pages.js';
import type { PageChrome } from '../problem.js';
import type { TrustedProxies } from '../request.js';
import { linkSentBody } from '../views/link-sent.js';
import { typedEmail as typed } from './email-form.js';
import type { RenderLoginPage } from './page.js';

export interface MagicLinkRequestDeps {
  requests: Pick<MagicLinkRequests, 'request' | 'delivers'>;
  audit: Pick<AuditLog, 'record' | 'recordUnawaited'>;
  csrf: Csrf;
  proxies: TrustedProxies;
  redirectPolicy: RedirectPolicy;
  chrome: PageChrome;
  prefix: string;
  /** `auth.magic_link.ttl`, named on the "check your email" page. */
  ttlMs: number;
  loginPage: RenderLoginPage;
}

/** POST /auth/magic_link — body `email`, `rd` (and `csrf` from our own form). */
export function handleMagicLinkRequest(deps: MagicLinkRequestDeps): Handler {
  const { audit, loginPage: renderLoginPage } = deps;
  return async (req, res) => {
    const form = await readForm(req);
    refuseRepeated(form, ['email', 'rd', 'csrf']);
    deps.csrf.checkFormOrigin(req, form);
    const rd = safeRedirect(form.get('rd'), deps.redirectPolicy);
    const source = auditSource(deps.proxies, req);
    const outcome = await deps.requests.request({
      email: form.get('email') ?? '',
      rd,
      ip: source.ip,
    });
    switch (outcome.kind) {
      case 'accepted':
        // After the answer's pacing: the trail write must not make a known address slower.
        if (outcome.issuedTo)
          audit.recordUnawaited(
            { event: 'link.issued', via: outcome.delivers ? 'mail' : 'manual' },
            { actor: ANONYMOUS_ACTOR, subject: outcome.issuedTo, source },
          );
        renderPage(
          deps.chrome,
          req,
          res,
          200,
          outcome.delivers ? 'Check your email' : 'Ask your administrator',
          linkSentBody({
            prefix: deps.prefix,
            rd,
            email: outcome.email,
            delivers: outcome.delivers,
            ttl: describeDuration(deps.ttlMs),
          }),
        );
        return;
      case 'invalid_email':
        await renderLoginPage(req, res, {
          status: 400,
          rd,
          email: typed(form.get('email')),
          message: {
            kind: 'error',
            text: 'That is not an email address we can send to. Check it: one @, and plain letters (no look-alike characters from other alphabets).',
          },
        });
        return;
      case 'rate_limited': {
        // Refused before any account lookup: the typed address is named, no trail is written.
        const typedParty = { id: null, label: typed(form.get('email')).toLowerCase() };
        await audit.record(
          { event: 'auth.login_failed', method: 'magic_link', reason: 'rate_limited' },
          { actor: ANONYMOUS_ACTOR, subject: typedParty, source },
        );
        const minutes = minutesUntil(outcome.retryAfterMs);
        await renderLoginPage(req, res, {
          status: 429,
          rd,
          email: typed(form.get('email')),
          headers: ['Retry-After', String(Math.ceil(outcome.retryAfterMs / 1000))],
          message: {
            kind: 'error',
            text: `Too many sign-in links were asked for. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
          },
        });
        return;
      }
      case 'send_failed':
        // The reason is for the admin (the user's trail on the panel, and the log line); the
        // person sees the same words whatever it was. Unawaited, as for `link.issued`.
        audit.recordUnawaited(
          { event: 'link.send_failed', reason: outcome.reason },
          {
            actor: ANONYMOUS_ACTOR,
            subject: outcome.account ?? { id: null, label: outcome.email },
            source,
          },
        );
        await renderLoginPage(req, res, {
          status: 503,
          rd,
          email: outcome.email,
          message: {
            kind: 'error',
            text: 'We could not send the email just now. Try again in a moment.',
          },
        });
        return;
    }
  };
}
