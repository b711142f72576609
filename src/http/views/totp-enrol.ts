import { html, SafeHtml } from '../../html.js';
import { messageBlock, type PageMessage } from './login-page.js';
import { codeField } from './totp-code.js';

export interface TotpEnrolView {
  /** The form's target: `/auth/totp/enrol` (during sign-in) or `/auth/totp/setup`. */
  action: string;
  csrf: string;
  /** Why this page: "required" during sign-in, "setup" from the account page. */
  reason: 'required' | 'setup';
  /**
   * The QR code and the secret, or null after a wrong code (a new QR code would be a new
   * secret, not the one already scanned).
   */
  enrolment: { qrSvg: string; secret: string } | null;
  /** Where "show a new QR code" goes. */
  restartHref: string;
  /** Where "not now" goes (the account page), or null when there is no way around it. */
  cancelHref: string | null;
  message: PageMessage | null;
}

/** A base32 secret in groups of four, easier to type. */
export function groupSecret(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

/**
 * The QR code as inline SVG: the service's own output (qrcode's SVG: a viewBox and two <path>
 * elements, no script, no text, no references), given a size and an accessible name here.
 * Inline SVG needs no CSP source; attributes are presentation, not style, so `style-src` holds.
 */
function qrImage(svg: string): SafeHtml {
  if (!/^<svg [^>]*>(<path [^<>]*\/>|<path [^<>]*><\/path>)+<\/svg>\s*$/.test(svg)) {
    throw new Error('unexpected QR code SVG');
  }
  return new SafeHtml(
    svg.replace(
      '<svg ',
      '<svg width="200" height="200" role="img" aria-label="QR code for your authenticator app" ',
    ),
  );
}

/** Setting up TOTP: scan (or type the key), then confirm with the first code. */
export function totpEnrolBody(view: TotpEnrolView): SafeHtml {
  const intro =
    view.reason === 'required'
      ? html`<p>This site asks for a code from an authenticator app after your password. Set one up now to finish signing in.</p>`
      : html`<p>After your password, sign-ins will also ask for a code from an authenticator app.</p>`;
  const steps = view.enrolment
    ? html`<ol>
<li>Open an authenticator app (for example Google Authenticator, Microsoft Authenticator, 1Password, Bitwarden or Aegis) and scan this QR code:</li>
</ol>
<p class="qr">${qrImage(view.enrolment.qrSvg)}</p>
<p class="muted">Cannot scan? Add an account by hand with this key (time-based, 6 digits):</p>
<p><code class="secret address">${groupSecret(view.enrolment.secret)}</code></p>
<ol start="2">
<li>Type the 6-digit code the app now shows.</li>
</ol>`
    : html`<p>Type the code the app shows now. Did not scan the QR code yet? <a href="${view.restartHref}">Show a new QR code</a> (remove any older entry for this site from the app first).</p>`;
  return html`<h1>Set up two-step verification</h1>
${messageBlock(view.message)}
${intro}
${steps}
<form method="post" action="${view.action}">
<input type="hidden" name="csrf" value="${view.csrf}">
${codeField('totp-code', 'Code from your authenticator app', view.message?.kind === 'error', view.enrolment === null)}
<button type="submit">Turn on two-step verification</button>
</form>
${view.cancelHref ? html`<p class="muted"><a href="${view.cancelHref}">Not now</a></p>` : ''}`;
}

export interface RecoveryCodesView {
  codes: readonly string[];
  /** How the page continues: a POST finishing the sign-in, or a link back to the account page. */
  next: { kind: 'form'; action: string; csrf: string } | { kind: 'link'; href: string };
}

/** The recovery codes, shown this once (the store keeps only their hashes). */
export function recoveryCodesBody(view: RecoveryCodesView): SafeHtml {
  const next =
    view.next.kind === 'form'
      ? html`<form method="post" action="${view.next.action}">
<input type="hidden" name="csrf" value="${view.next.csrf}">
<button type="submit">I saved them — continue</button>
</form>`
      : html`<a class="button" href="${view.next.href}">I saved them — continue</a>`;
  return html`<h1>Save your recovery codes</h1>
<p class="message info" role="status">Two-step verification is on.</p>
<p>If you lose your phone, each of these codes signs you in once instead of an app code. Print them or keep them in a password manager: <strong>this is the only time they are shown</strong>.</p>
<div class="issued">
<h2>Recovery codes</h2>
<ul class="recovery-codes">
${view.codes.map((code) => html`<li><code>${code}</code></li>`)}
</ul>
</div>
${next}`;
}
