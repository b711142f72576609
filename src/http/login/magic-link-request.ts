import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeRedirect } from '../../core/redirect.js';
import type { MagicLinkRequests } from '../../login/magic-link/request-link.js';
import { describeDuration, minutesUntil } from '../../mail/describe-duration.js';
import { ANONYMOUS_ACTOR } from '../../services/audit.js';
import { auditSource } from '../audit-source.js';
import { readForm, refuseRepeated } from '../body.js';
import type { AppContext } from '../context.js';
import { checkFormOrigin } from '../csrf.js';
import { renderPage } from '../pages.js';
import { linkSentBody } from '../views/link-sent.js';
import type { RouteHandler } from './method.js';
import { renderLoginPage } from './page.js';

/** What goes back into the field after an error: never more than an address can be. */
function typed(value: string | null): string {
  return (value ?? '').trim().slice(0, 254);
}

/** POST /auth/magic_link — body `email`, `rd` (and `csrf` from our own form). */
export function handleMagicLinkRequest(requests: MagicLinkRequests): RouteHandler {
  return async (ctx: AppContext, req: IncomingMessage, res: ServerResponse) => {
    const form = await readForm(req);
    refuseRepeated(form, ['email', 'rd', 'csrf']);
    checkFormOrigin(ctx, req, form);
    const rd = safeRedirect(form.get('rd'), ctx.config.redirectPolicy);
    const source = auditSource(ctx, req);
    const outcome = await requests.request({
      email: form.get('email') ?? '',
      rd,
      ip: source.ip,
    });
    switch (outcome.kind) {
      case 'accepted':
        // After the answer's pacing: the trail write must not make a known address slower.
        if (outcome.issuedTo)
          ctx.audit.recordUnawaited(
            { event: 'link.issued', via: outcome.delivers ? 'mail' : 'manual' },
            { actor: ANONYMOUS_ACTOR, subject: outcome.issuedTo, source },
          );
        renderPage(
          ctx,
          req,
          res,
          200,
          outcome.delivers ? 'Check your email' : 'Ask your administrator',
          linkSentBody({
            prefix: ctx.config.prefix,
            rd,
            email: outcome.email,
            delivers: outcome.delivers,
            ttl: describeDuration(ctx.config.raw.auth.magic_link.ttl),
          }),
        );
        return;
      case 'invalid_email':
        await renderLoginPage(ctx, req, res, {
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
        await ctx.audit.record(
          { event: 'auth.login_failed', method: 'magic_link', reason: 'rate_limited' },
          { actor: ANONYMOUS_ACTOR, subject: typedParty, source },
        );
        const minutes = minutesUntil(outcome.retryAfterMs);
        await renderLoginPage(ctx, req, res, {
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
        await renderLoginPage(ctx, req, res, {
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
