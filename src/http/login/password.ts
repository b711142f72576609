import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import type { Clock } from '../../core/clock.js';
import { MAX_PASSWORD_LENGTH } from '../../core/password.js';
import { safeRedirect } from '../../core/redirect.js';
import { html } from '../../html.js';
import { PasswordChecker } from '../../login/password-check.js';
import { minutesUntil } from '../../mail/describe-duration.js';
import type { Store } from '../../ports/store.js';
import { ANONYMOUS_ACTOR, type AuditParty } from '../../services/audit.js';
import { auditSource } from '../audit-source.js';
import { readForm, refuseRepeated } from '../body.js';
import type { AppContext } from '../context.js';
import { checkFormOrigin } from '../csrf.js';
import { finishLogin } from './finish-login.js';
import type { LoginControlInput, LoginMethod } from './method.js';
import { renderLoginPage } from './page.js';

export interface PasswordMethodDeps {
  config: Config;
  store: Store;
  clock: Clock;
  logger: Logger;
}

/** What goes back into the email field after an error: never more than an address can be. */
function typed(value: string | null): string {
  return (value ?? '').trim().slice(0, 254);
}

/** `basic`: email + password, POSTed to `/auth/basic`. */
export function createPasswordMethod(
  deps: PasswordMethodDeps,
  checker = new PasswordChecker(deps.store, deps.clock, deps.config.raw.auth.basic.users),
): LoginMethod {
  const handle = async (ctx: AppContext, req: IncomingMessage, res: ServerResponse) => {
    const form = await readForm(req);
    refuseRepeated(form, ['email', 'password', 'rd', 'csrf']);
    checkFormOrigin(ctx, req, form);
    const rd = safeRedirect(form.get('rd'), ctx.config.redirectPolicy);
    const email = typed(form.get('email'));
    const source = auditSource(ctx, req);
    const outcome = await checker.check(
      form.get('email') ?? '',
      form.get('password') ?? '',
      source.ip,
    );
    // Who asks is not proven until the password is: the actor stays anonymous till then, and
    // an address that names no account is still worth a line (whose account is guessed at).
    const typedParty: AuditParty = { id: null, label: email.toLowerCase() };
    const again = (status: number, text: string, headers: string[] = []) =>
      renderLoginPage(ctx, req, res, {
        status,
        rd,
        email,
        headers,
        message: { kind: 'error', text },
      });
    switch (outcome.kind) {
      case 'ok':
        await finishLogin(ctx, req, res, outcome.user, 'basic', rd);
        return;
      case 'invalid': {
        const subject = outcome.user ?? typedParty;
        ctx.audit.recordUnawaited(
          { event: 'auth.login_failed', method: 'basic', reason: 'bad_password' },
          { actor: ANONYMOUS_ACTOR, subject, source },
        );
        await again(401, 'Wrong email or password.');
        return;
      }
      case 'deactivated':
        await ctx.audit.record(
          { event: 'auth.login_failed', method: 'basic', reason: 'deactivated' },
          { actor: outcome.user, subject: outcome.user, source },
        );
        await again(403, 'This account is deactivated. Ask an administrator.');
        return;
      case 'throttled': {
        const minutes = minutesUntil(outcome.retryAfterMs);
        await ctx.audit.record(
          { event: 'auth.login_failed', method: 'basic', reason: 'rate_limited' },
          { actor: ANONYMOUS_ACTOR, subject: typedParty, source },
        );
        await again(
          429,
          `Too many sign-in attempts for this account or from your network. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
          ['Retry-After', String(Math.ceil(outcome.retryAfterMs / 1000))],
        );
        return;
      }
      case 'busy':
        await ctx.audit.record(
          { event: 'auth.login_failed', method: 'basic', reason: 'busy' },
          { actor: ANONYMOUS_ACTOR, subject: typedParty, source },
        );
        await again(503, 'Too many sign-ins at once right now. Try again in a moment.', [
          'Retry-After',
          '5',
        ]);
        return;
    }
  };

  return {
    id: 'basic',
    label: 'Password',
    renderControl: (
      input: LoginControlInput,
    ) => html`<form method="post" action="${input.prefix}/basic" class="method method-basic">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="rd" value="${input.rd}">
<label for="basic-email">Email address</label>
<input id="basic-email" name="email" type="email" inputmode="email" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="254" value="${input.email ?? ''}">
<label for="basic-password">Password</label>
<input id="basic-password" name="password" type="password" autocomplete="current-password" required maxlength="${MAX_PASSWORD_LENGTH}">
<button type="submit">Sign in with password</button>
</form>`,
    routes: [{ path: '/basic', POST: handle }],
  };
}
