import { html, type SafeHtml } from '../../html.js';
import { emailFormOpening } from '../login/email-form.js';
import type { LoginControlInput, LoginMethod } from '../login/method.js';

export interface PageMessage {
  kind: 'error' | 'info';
  text: string;
}

/**
 * `email`: the first step, one email field and a button per method that takes an address, beside
 * the methods that need none. `password`: the address chosen, the password asked for.
 */
export type LoginStep = 'email' | 'password';

export interface LoginPageView {
  prefix: string;
  rd: string;
  csrf: string;
  methods: readonly LoginMethod[];
  message: PageMessage | null;
  email?: string;
  step?: LoginStep;
}

export function messageBlock(message: PageMessage | null): SafeHtml | '' {
  if (!message) return '';
  // role=alert for errors so screen readers announce them; status for the calm ones.
  return html`<p class="message ${message.kind}" role="${message.kind === 'error' ? 'alert' : 'status'}">${message.text}</p>`;
}

/** Where the person is headed, short enough to read: no scheme, at most 80 characters. */
export function shortTarget(rd: string): string {
  const text = rd.replace(/^https?:\/\//, '');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** A target that wraps on a narrow screen after a `/`, `?` or `&`, not inside a word. */
function targetHtml(text: string): SafeHtml {
  const pieces = text.split(/(?<=[/?&])/);
  return html`<span class="target">${pieces.map((piece, i) => html`${i > 0 ? html`<wbr>` : ''}${piece}`)}</span>`;
}

const DIVIDER = html`<p class="divider" aria-hidden="true"><span>or</span></p>`;

/** The login page again at the first step, keeping `rd`. */
function firstStepUrl(view: Pick<LoginPageView, 'prefix' | 'rd'>): string {
  return view.rd === '/'
    ? `${view.prefix}/login`
    : `${view.prefix}/login?rd=${encodeURIComponent(view.rd)}`;
}

/**
 * The one email form: the address once, then a submit button per method that starts from it
 * (`formaction` picks the route), the first one primary. Enter submits with the first button.
 */
function emailForm(methods: readonly LoginMethod[], input: LoginControlInput): SafeHtml {
  const choices = methods.flatMap((method) =>
    method.emailChoice ? [{ id: method.id, choice: method.emailChoice }] : [],
  );
  const first = choices[0]?.choice.action ?? '/magic_link';
  // `username` lets a password manager fill the address; `webauthn` (last, HTML autofill
  // grammar) is added by emailFormOpening when passkeys are on.
  const passwords = choices.some(({ choice }) => choice.field !== undefined);
  const buttons = choices.map(({ id, choice }, index) => {
    const described = choice.help ? html` aria-describedby="${id}-help"` : '';
    const field = choice.field
      ? html` name="${choice.field.name}" value="${choice.field.value}"`
      : '';
    return html`
<button type="submit" formaction="${input.prefix}${choice.action}"${field}${index > 0 ? html` class="secondary"` : ''}${described}>${choice.label}</button>`;
  });
  const help = choices.map(({ id, choice }) =>
    choice.help
      ? html`
<p id="${id}-help" class="muted">${choice.help}</p>`
      : '',
  );
  return html`${emailFormOpening(input, {
    action: first,
    className: 'method method-email',
    fieldId: 'email',
    autocomplete: passwords ? 'username' : 'email',
    autofocus: true,
  })}${buttons}${help}
</form>`;
}

/** A run of controls shown together: the email form, or methods that need no address. */
interface Group {
  html: SafeHtml;
  /** Shown only by the passkey script: hidden, its divider with it, until then. */
  needsScript: boolean;
}

/**
 * Methods that need no address (SSO, passkey), stacked: outlined beside the email form, whose
 * first choice is the one primary button. A control only its script can show stays hidden.
 */
function otherMethods(
  methods: readonly LoginMethod[],
  input: LoginControlInput,
  beside: boolean,
): Group {
  const controls = methods.map((method) => {
    const control = method.renderControl(input);
    return method.needsScript
      ? html`<div class="needs-script" data-needs-webauthn hidden>${control}</div>`
      : control;
  });
  return {
    html: html`<div class="others${beside ? ' beside' : ''}">${controls}</div>`,
    needsScript: methods.every((method) => method.needsScript === true),
  };
}

/**
 * The first step, in `enabled_auth` order: the methods that take an address share one email
 * form where the first of them stands, the others are grouped between; one divider between
 * groups. A group that only its script can show is wrapped, hidden, with the divider on its
 * side, so the page without JavaScript reads as if the method were not there.
 */
function firstStep(view: LoginPageView): SafeHtml {
  const input: LoginControlInput = {
    prefix: view.prefix,
    rd: view.rd,
    csrf: view.csrf,
    email: view.email,
    webauthnAutofill: view.methods.some((method) => method.id === 'passkey'),
  };
  const hasEmail = view.methods.some((method) => method.emailChoice);
  const groups: Group[] = [];
  let run: LoginMethod[] = [];
  const flush = () => {
    if (run.length > 0) groups.push(otherMethods(run, input, hasEmail));
    run = [];
  };
  let emailShown = false;
  for (const method of view.methods) {
    if (!method.emailChoice) run.push(method);
    else if (!emailShown) {
      flush();
      groups.push({ html: emailForm(view.methods, input), needsScript: false });
      emailShown = true;
    }
  }
  flush();
  const controls = groups.map((group, index) => {
    if (group.needsScript) {
      const inner =
        index > 0 ? [DIVIDER, group.html] : [group.html, groups.length > 1 ? DIVIDER : ''];
      return html`<div class="needs-script" data-needs-webauthn hidden>${inner}</div>`;
    }
    // A divider only after a group that shows without JavaScript; a hidden first group
    // brings its own.
    const afterShown = groups.slice(0, index).some((before) => !before.needsScript);
    return [afterShown ? DIVIDER : '', group.html];
  });
  return html`${controls.length > 0 ? controls : html`<p>No sign-in method is enabled. Ask an administrator.</p>`}`;
}

/** The password step: the method's own form (the address kept, the password asked for). */
function passwordStep(view: LoginPageView, method: LoginMethod): SafeHtml {
  const control = method.renderControl({
    prefix: view.prefix,
    rd: view.rd,
    csrf: view.csrf,
    email: view.email ?? '',
  });
  return html`${control}
<p class="muted"><a href="${firstStepUrl(view)}">Other ways to sign in</a></p>`;
}

/** The sign-in page body, at the first step or the password step. */
export function loginPageBody(view: LoginPageView): SafeHtml {
  const password =
    view.step === 'password' ? view.methods.find((method) => method.id === 'basic') : undefined;
  return html`<h1>Sign in</h1>
${messageBlock(view.message)}
${password ? passwordStep(view, password) : firstStep(view)}
${view.rd !== '/' ? html`<p class="muted">Afterwards you go on to ${targetHtml(shortTarget(view.rd))}.</p>` : ''}`;
}

export interface SignedInView {
  prefix: string;
  csrf: string;
  email: string;
  admin: boolean;
  /** Where "Continue" leads (the checked `rd`, or the app in proxy mode) and how it reads. */
  next: { href: string; label: string } | null;
  /** Sent along with "Sign in as someone else": the login page then leads back there. */
  rd: string | null;
}

/**
 * The login page for a browser that is already signed in: who they are and where they can go,
 * not a sign-in form. Signing out posts (CSRF token and origin checked by `/logout`).
 */
export function signedInBody(view: SignedInView): SafeHtml {
  const account = html`<a href="${view.prefix}/account">Your account</a>`;
  const admin = view.admin ? html`<a href="${view.prefix}/admin">Admin panel</a>` : null;
  // The first place to go is the button: the app when it is known, else the account page.
  const primary = view.next
    ? html`<a class="button" href="${view.next.href}">Continue to ${targetHtml(view.next.label)}</a>`
    : html`<a class="button" href="${view.prefix}/account">Your account</a>`;
  const links = (view.next ? [account, admin] : [admin]).filter((link) => link !== null);
  return html`<h1>Signed in</h1>
<p>You're signed in as <strong class="email">${view.email}</strong>.</p>
${primary}
${links.length > 0 ? html`<ul class="links">${links.map((link) => html`<li>${link}</li>`)}</ul>` : ''}
<div class="switch">
<form method="post" action="${view.prefix}/logout">
<input type="hidden" name="csrf" value="${view.csrf}">
<button type="submit" class="secondary">Sign out</button>
</form>
<form method="post" action="${view.prefix}/logout">
<input type="hidden" name="csrf" value="${view.csrf}">
${view.rd ? html`<input type="hidden" name="rd" value="${view.rd}">` : ''}
<button type="submit" class="secondary">Sign in as someone else</button>
</form>
</div>`;
}
