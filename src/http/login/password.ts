import { MAX_PASSWORD_LENGTH } from '../../core/password.js';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import { html } from '../../html.js';
import type { PasswordChecker } from '../../login/password-check.js';
import { minutesUntil } from '../../mail/describe-duration.js';
import { ANONYMOUS_ACTOR, type AuditLog, type AuditParty } from '../../services/audit.js';
import { auditSource } from '../audit-source.js';
import { readForm, refuseRepeated } from '../body.js';
import type { Csrf } from '../csrf.js';
import type { Handler } from '../handler.js';
import type { TrustedProxies } from '../request.js';
import { typedEmail as typed } from './email-form.js';
import type { FinishLogin } from './finish-login.js';
import type { LoginControlInput, LoginMethod, LoginRoute } from './method.js';
import type { RenderLoginPage } from './page.js';
import type { TotpLogin } from './totp-login.js';

export interface PasswordMethodDeps {
  checker: Pick<PasswordChecker, 'check'>;
  audit: Pick<AuditLog, 'record' | 'recordUnawaited'>;
  csrf: Csrf;
  proxies: TrustedProxies;
  redirectPolicy: RedirectPolicy;
  loginPage: RenderLoginPage;
  finish: FinishLogin;
  /**
   * `auth.basic.second_factor` other than `off`: the step after a right password, and its routes
   * (`/totp…`) with the signed-in set-up page. Null: a right password signs in at once.
   */
  secondFactor: { login: TotpLogin; setup: LoginRoute } | null;
}

/** What "Use my password" sends along with the address (no `password` field yet). */
const PASSWORD_STEP = 'password';

/** The first step again, for another address. */
function changeUrl(input: LoginControlInput): string {
  const base = `${input.prefix}/login`;
  return input.rd === '/' ? base : `${base}?rd=${encodeURIComponent(input.rd)}`;
}

/**
 * `basic`: email + password, POSTed to `/auth/basic`. The login page asks in two steps: the
 * address on its one email form ("Use my password" posts it here with `step=password` and no
 * password), then the password.
 */
export function createPasswordMethod(deps: PasswordMethodDeps): LoginMethod {
  const { audit, finish, loginPage: renderLoginPage } = deps;
  const handle: Handler = async (req, res) => {
    const form = await readForm(req);
    refuseRepeated(form, ['email', 'password', 'rd', 'csrf', 'step']);
    deps.csrf.checkFormOrigin(req, form);
    const rd = safeRedirect(form.get('rd'), deps.redirectPolicy);
    const email = typed(form.get('email'));
    if (form.get('step') === PASSWORD_STEP && !form.has('password')) {
      // "Use my password" on the email form: the password step, the same page for every
      // address (no account or password is looked up, so it tells nobody which exist).
      await renderLoginPage(req, res, {
        status: email === '' ? 400 : 200,
        rd,
        email,
        step: email === '' ? 'email' : 'password',
        message: email === '' ? { kind: 'error', text: 'Enter your email address.' } : null,
      });
      return;
    }
    const source = auditSource(deps.proxies, req);
    const outcome = await deps.checker.check(
      form.get('email') ?? '',
      form.get('password') ?? '',
      source.ip,
    );
    // Who asks is not proven until the password is: the actor stays anonymous till then, and
    // an address that names no account is still worth a line (whose account is guessed at).
    const typedParty: AuditParty = { id: null, label: email.toLowerCase() };
    const again = (status: number, text: string, headers: string[] = []) =>
      renderLoginPage(req, res, {
        status,
        rd,
        email,
        step: 'password',
        headers,
        message: { kind: 'error', text },
      });
    switch (outcome.kind) {
      case 'ok':
        if (deps.secondFactor)
          await deps.secondFactor.login.afterPassword(req, res, outcome.user, rd);
        else await finish(req, res, outcome.user, 'basic', rd);
        return;
      case 'invalid': {
        const subject = outcome.user ?? typedParty;
        audit.recordUnawaited(
          { event: 'auth.login_failed', method: 'basic', reason: 'bad_password' },
          { actor: ANONYMOUS_ACTOR, subject, source },
        );
        await again(401, 'Wrong email or password.');
        return;
      }
      case 'deactivated':
        await audit.record(
          { event: 'auth.login_failed', method: 'basic', reason: 'deactivated' },
          { actor: outcome.user, subject: outcome.user, source },
        );
        await again(403, 'This account is deactivated. Ask an administrator.');
        return;
      case 'throttled': {
        const minutes = minutesUntil(outcome.retryAfterMs);
        await audit.record(
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
        await audit.record(
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
    emailChoice: {
      action: '/basic',
      label: 'Use my password',
      field: { name: 'step', value: PASSWORD_STEP },
    },
    // The password step, after "Use my password" or a refused password: the address shown and
    // sent along (also as the `username` a password manager files the password under).
    renderControl: (
      input: LoginControlInput,
    ) => html`<form method="post" action="${input.prefix}/basic" class="method method-basic">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="rd" value="${input.rd}">
<p class="chosen">Signing in as <strong class="email">${input.email ?? ''}</strong>. Not you? <a href="${changeUrl(input)}">Change address</a></p>
<input name="email" type="email" autocomplete="username" value="${input.email ?? ''}" readonly hidden>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="${MAX_PASSWORD_LENGTH}" autofocus>
<button type="submit">Sign in</button>
</form>`,
    routes: [
      { path: '/basic', POST: handle },
      ...(deps.secondFactor ? [...deps.secondFactor.login.routes, deps.secondFactor.setup] : []),
    ],
  };
}
