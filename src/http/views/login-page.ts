import { html, type SafeHtml } from '../../html.js';
import type { LoginMethod } from '../login/method.js';

export interface PageMessage {
  kind: 'error' | 'info';
  text: string;
}

export interface LoginPageView {
  prefix: string;
  rd: string;
  csrf: string;
  methods: readonly LoginMethod[];
  message: PageMessage | null;
  email?: string;
  /** Set when the browser already has a valid session. */
  signedInAs: string | null;
}

export function messageBlock(message: PageMessage | null): SafeHtml | '' {
  if (!message) return '';
  // role=alert for errors so screen readers announce them; status for the calm ones.
  return html`<p class="message ${message.kind}" role="${message.kind === 'error' ? 'alert' : 'status'}">${message.text}</p>`;
}

/** Where the person is headed, short enough to read: no scheme, at most 80 characters. */
function shortTarget(rd: string): string {
  const text = rd.replace(/^https?:\/\//, '');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

const DIVIDER = html`<p class="divider" aria-hidden="true"><span>or</span></p>`;

/**
 * The sign-in page body: one control per enabled method, in `enabled_auth` order. A control
 * that only its script can show (`needsScript`) is wrapped, hidden, with the divider on its
 * side, so the page without JavaScript reads as if the method were not there.
 */
export function loginPageBody(view: LoginPageView): SafeHtml {
  const webauthnAutofill = view.methods.some((method) => method.id === 'passkey');
  const input = {
    prefix: view.prefix,
    rd: view.rd,
    csrf: view.csrf,
    email: view.email,
    webauthnAutofill,
  };
  const count = view.methods.length;
  const controls = view.methods.map((method, index) => {
    const control = method.renderControl(input);
    if (method.needsScript) {
      const inner = index === 0 ? [control, count > 1 ? DIVIDER : ''] : [DIVIDER, control];
      return html`<div class="needs-script" data-needs-webauthn hidden>${inner}</div>`;
    }
    // The first visible control needs no divider when the one before it is hidden at first.
    const afterHiddenFirst = index === 1 && view.methods[0]?.needsScript === true;
    return [index > 0 && !afterHiddenFirst ? DIVIDER : '', control];
  });
  return html`<h1>Sign in</h1>
${messageBlock(view.message)}
${
  view.signedInAs
    ? html`<div class="signed-in"><p>You are signed in as <strong>${view.signedInAs}</strong> (<a href="${view.prefix}/account">your account</a>).</p>
<a class="button secondary" href="${view.rd}">Continue</a>
<p class="muted"><a href="${view.prefix}/logout">Sign out</a> or sign in as someone else below.</p></div>`
    : ''
}
${controls.length > 0 ? controls : html`<p>No sign-in method is enabled. Ask an administrator.</p>`}
${view.rd !== '/' ? html`<p class="muted">Afterwards you go on to <span class="target">${shortTarget(view.rd)}</span>.</p>` : ''}`;
}
