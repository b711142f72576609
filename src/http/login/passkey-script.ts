import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Handler } from '../handler.js';
import { sendBody } from '../respond.js';
import type { LoginRoute } from './method.js';

/*
 * The one script of ours (served as `/auth/passkey/passkey.js`, after @simplewebauthn/browser's
 * bundle, which defines `SimpleWebAuthnBrowser`). It reads what it needs from `data-` attributes
 * of the element `[data-passkey]` (no inline code anywhere: the CSP forbids it):
 *
 *   data-passkey="signin"    the login page: the "Sign in with a passkey" button, and conditional
 *                            UI (passkeys in the email field's autofill) started on load
 *   data-passkey="register"  the enrolment offer (and any page that creates a passkey)
 *   data-options, data-verify  the two JSON endpoints of the ceremony
 *   data-rd                  where to go afterwards (the server checks it again)
 *   data-csrf                register only: the session's CSRF token, sent as X-CSRF-Token
 *
 * Elements marked `data-needs-webauthn` start `hidden` and are shown only when the browser has
 * WebAuthn, so without JavaScript (or without passkey support) nothing dead is on the page.
 * Messages go to `[data-passkey-message]` with textContent (never HTML).
 */
export const PASSKEY_SCRIPT = `'use strict';
(() => {
  const W = window.SimpleWebAuthnBrowser;
  const root = document.querySelector('[data-passkey]');
  if (!W || !root || !W.browserSupportsWebAuthn()) return;
  for (const el of document.querySelectorAll('[data-needs-webauthn]')) el.hidden = false;
  const kind = root.dataset.passkey;
  const button = root.querySelector('[data-passkey-start]');
  const message = root.querySelector('[data-passkey-message]');

  const say = (text) => {
    if (!message) return;
    message.textContent = text || '';
    message.hidden = !text;
  };

  // Same-origin JSON calls. referrerPolicy same-origin: our pages say no-referrer, which would
  // make the browser send "Origin: null", and the server wants to see our own origin.
  const call = async (url, body) => {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (root.dataset.csrf) headers['X-CSRF-Token'] = root.dataset.csrf;
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      credentials: 'same-origin',
      referrerPolicy: 'same-origin',
      cache: 'no-store',
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok || !data) {
      const error = new Error((data && data.message) || 'Something went wrong. Try again.');
      error.data = data;
      throw error;
    }
    return data;
  };

  // Another ceremony took over (the button while autofill waited): not an error to show.
  const aborted = (error) => error && error.name === 'AbortError';

  // The server no longer knows this passkey (removed): tell the authenticator, where the
  // browser has the WebAuthn Signal API, so it stops offering it.
  const signalUnknown = (data) => {
    const unknown = data && data.unknown_credential;
    const api = window.PublicKeyCredential;
    if (!unknown || !api || typeof api.signalUnknownCredential !== 'function') return;
    api.signalUnknownCredential(unknown).catch(() => {});
  };

  if (kind === 'signin') {
    let autofill = false;
    // Conditional UI restarts after a failed attempt (to pick another passkey), a few times
    // only: an authenticator that answers at once with a removed passkey must not loop.
    let restarts = 3;
    const again = () => {
      if (autofill && restarts > 0) {
        restarts -= 1;
        void signIn(true);
      }
    };
    const signIn = async (conditional) => {
      let data;
      try {
        data = await call(root.dataset.options, {});
      } catch (error) {
        if (!conditional) say(error.message);
        return;
      }
      let response;
      try {
        response = await W.startAuthentication({
          optionsJSON: data.options,
          useBrowserAutofill: conditional,
        });
      } catch (error) {
        if (aborted(error)) return;
        if (!conditional) {
          say('No passkey was used. Try again, or sign in another way.');
          again();
        }
        return;
      }
      if (button) button.disabled = true;
      try {
        const result = await call(root.dataset.verify, { response, rd: root.dataset.rd });
        window.location.assign(result.redirect);
      } catch (error) {
        if (button) button.disabled = false;
        say(error.message);
        signalUnknown(error.data);
        again();
      }
    };
    if (button) {
      button.addEventListener('click', () => {
        say('');
        void signIn(false);
      });
    }
    // Conditional UI: passkeys offered in the email field's autofill, started at once and
    // waiting quietly until the person picks one (or uses the button, which replaces it).
    if (document.querySelector('input[autocomplete$="webauthn"]')) {
      W.browserSupportsWebAuthnAutofill().then((supported) => {
        autofill = supported;
        if (supported) void signIn(true);
      });
    }
  }

  if (kind === 'register' && button) {
    button.addEventListener('click', async () => {
      say('');
      button.disabled = true;
      try {
        const data = await call(root.dataset.options, {});
        const response = await W.startRegistration({ optionsJSON: data.options });
        const result = await call(root.dataset.verify, { response, rd: root.dataset.rd });
        window.location.assign(result.redirect);
      } catch (error) {
        // An old session must confirm it is its owner first: the server names the page (ours).
        const stepUp = error && error.data && error.data.step_up;
        if (typeof stepUp === 'string' && stepUp[0] === '/' && stepUp[1] !== '/') {
          window.location.assign(stepUp);
          return;
        }
        button.disabled = false;
        if (error && error.name === 'InvalidStateError') {
          say('This device already has a passkey for your account.');
        } else if (error && error.name === 'NotAllowedError') {
          say('No passkey was created. Try again when you are ready.');
        } else {
          say(error.message);
        }
      }
    });
  }
})();
`;

/** @simplewebauthn/browser's UMD bundle (MIT): defines `window.SimpleWebAuthnBrowser`. */
function readWebAuthnBundle(): string {
  // The package's exports map hides the bundle; it sits beside its CommonJS entry point.
  const main = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  return readFileSync(join(dirname(main), '..', 'dist', 'bundle', 'index.umd.min.js'), 'utf8');
}

const JS_TYPE = 'text/javascript; charset=utf-8';

function staticScript(body: string): Handler {
  return (req, res) =>
    sendBody(req, res, 200, JS_TYPE, body, [
      // The URL carries the content's hash (`?v=`), so a new version is a new URL.
      'Cache-Control',
      'public, max-age=86400',
      'X-Content-Type-Options',
      'nosniff',
    ]);
}

const versionOf = (body: string) =>
  createHash('sha256').update(body).digest('base64url').slice(0, 10);

export interface PasskeyScripts {
  /** The page's `<script src>` URLs, in order: the library, then ours. */
  urls: readonly string[];
  routes: readonly LoginRoute[];
}

/** The two static scripts under `<prefix>/passkey/`, read once at start. */
export function passkeyScripts(prefix: string): PasskeyScripts {
  const bundle = readWebAuthnBundle();
  return {
    urls: [
      `${prefix}/passkey/webauthn.js?v=${versionOf(bundle)}`,
      `${prefix}/passkey/passkey.js?v=${versionOf(PASSKEY_SCRIPT)}`,
    ],
    routes: [
      { path: '/passkey/webauthn.js', GET: staticScript(bundle) },
      { path: '/passkey/passkey.js', GET: staticScript(PASSKEY_SCRIPT) },
    ],
  };
}
