import type { IncomingMessage } from 'node:http';
import Bowser from 'bowser';
import { readCookie, serializeCookie } from '../../core/cookies.js';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import type { User } from '../../ports/store.js';
import type { PasskeyService } from '../../services/passkeys.js';
import { readForm, refuseRepeated } from '../body.js';
import type { Handler, PageDeps } from '../handler.js';
import { renderPage } from '../pages.js';
import { redirect } from '../respond.js';
import { currentSession, type SessionReader } from '../routes/session-routes.js';
import { passkeyEnrolBody } from '../views/passkey-enrol.js';
import { describeUserAgent } from '../views/user-agent.js';
import type { PasskeyOffer } from './finish-login.js';
import { type RecentProof, stepUpUrl } from './step-up-recent.js';

/** Set by "Not now": this browser is not asked again while it lasts. */
export const PASSKEY_LATER_COOKIE = 'portcullis_passkey_later';
const LATER_SECONDS = 30 * 24 * 60 * 60;

/** Where the offer is asked, under the prefix. */
export const PASSKEY_ENROL_PATH = '/passkey/enrol';

/**
 * The name a passkey created in this browser gets: "Chrome on macOS" (no version, which would
 * change with every update). Null for a client that is no browser we recognise (a script):
 * such a client is never offered a passkey.
 */
export function passkeyDeviceName(userAgent: string): string | null {
  if (!userAgent.trim() || !Bowser.parse(userAgent).browser.name) return null;
  return describeUserAgent(userAgent).replace(/ \d+(?= on |$)/, '');
}

function userAgentOf(req: IncomingMessage): string {
  return String(req.headers['user-agent'] ?? '');
}

/**
 * Whom to ask. Which authenticator a browser holds cannot be known, so this guesses, on the
 * side of asking less: not when this browser said "Not now" (30 days), not when the user
 * already has a passkey named after this browser and system, and never a non-browser client.
 */
export function createPasskeyOffer(passkeys: Pick<PasskeyService, 'list'>): PasskeyOffer {
  return {
    path: PASSKEY_ENROL_PATH,
    async shouldAsk(req: IncomingMessage, user: User): Promise<boolean> {
      if (readCookie(req.headers.cookie, PASSKEY_LATER_COOKIE) !== undefined) return false;
      const device = passkeyDeviceName(userAgentOf(req));
      if (!device) return false;
      try {
        const mine = await passkeys.list(user.id);
        return !mine.some((passkey) => passkey.name === device);
      } catch {
        // The sign-in itself went through: a store hiccup only skips the question.
        return false;
      }
    },
  };
}

export interface PasskeyEnrolDeps extends PageDeps {
  session: SessionReader;
  redirectPolicy: RedirectPolicy;
  secureCookies: boolean;
  /** The page's script URLs (passkeyScripts().urls). */
  scripts: readonly string[];
  /** A session that has not proved itself lately is sent to a step-up first; null: never. */
  recent?: RecentProof | null;
}

export interface PasskeyEnrolRoutes {
  /** GET /auth/passkey/enrol?rd= — the offer; signed out, straight on to rd. */
  page: Handler;
  /** POST /auth/passkey/enrol/skip — "Not now": remember it on this browser, go on to rd. */
  skip: Handler;
}

export function passkeyEnrolRoutes(deps: PasskeyEnrolDeps): PasskeyEnrolRoutes {
  return {
    async page(req, res, query) {
      const rd = safeRedirect(query.get('rd'), deps.redirectPolicy);
      const lookup = await currentSession(deps.session, req);
      if (lookup?.kind !== 'valid') {
        redirect(res, 303, rd);
        return;
      }
      const user = lookup.live.user;
      // The offer right after a sign-in passes (the sign-in is the proof); an old session
      // confirms it is its owner first, then comes back here.
      if (deps.recent && !(await deps.recent.isRecent(lookup.live.session))) {
        const here = `${deps.prefix}${PASSKEY_ENROL_PATH}?rd=${encodeURIComponent(rd)}`;
        redirect(res, 303, stepUpUrl(deps.prefix, here, 'recent'));
        return;
      }
      renderPage(
        deps.chrome,
        req,
        res,
        200,
        'Create a passkey',
        passkeyEnrolBody({
          prefix: deps.prefix,
          rd,
          csrf: deps.csrf.token(req).token,
          email: user.email,
          device: passkeyDeviceName(userAgentOf(req)) ?? 'Passkey',
        }),
        [],
        { scripts: deps.scripts },
      );
    },

    async skip(req, res) {
      const form = await readForm(req);
      refuseRepeated(form, ['csrf', 'rd']);
      deps.csrf.checkFormOrigin(req, form);
      const rd = safeRedirect(form.get('rd'), deps.redirectPolicy);
      redirect(res, 303, rd, [
        'Set-Cookie',
        serializeCookie(PASSKEY_LATER_COOKIE, '1', {
          secure: deps.secureCookies,
          path: deps.prefix || '/',
          maxAgeSeconds: LATER_SECONDS,
          sameSite: 'Lax',
        }),
      ]);
    },
  };
}
