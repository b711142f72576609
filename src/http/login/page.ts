import type { IncomingMessage, ServerResponse } from 'node:http';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import type { User } from '../../ports/users.js';
import type { Csrf } from '../csrf.js';
import type { Handler } from '../handler.js';
import { renderPage } from '../pages.js';
import type { PageChrome } from '../problem.js';
import { currentSession, type SessionReader } from '../routes/session-routes.js';
import {
  type LoginStep,
  loginPageBody,
  type PageMessage,
  shortTarget,
  signedInBody,
} from '../views/login-page.js';
import type { LoginMethod } from './method.js';
import { parseStepUp, type StepUp } from './step-up.js';

/** Messages other pages send people here with (`?error=` / `?info=`). */
export const LOGIN_MESSAGES: Record<string, PageMessage> = {
  link_used: {
    kind: 'error',
    text: 'This link was already used or has expired. Ask for a new one below.',
  },
  signed_out: { kind: 'info', text: 'You are signed out.' },
  not_allowed: {
    kind: 'error',
    text: 'This account is not allowed to sign in. Ask an administrator.',
  },
};

export interface LoginPageOptions {
  status?: number;
  rd: string;
  message?: PageMessage | null;
  email?: string;
  /** `password`: the password step for `email` (`basic`); the first step otherwise. */
  step?: LoginStep;
  headers?: string[];
}

export interface LoginPageDeps {
  /** A signed-in browser gets the "you're signed in" page instead of the form. */
  session: SessionReader;
  /** Whether the signed-in user gets the "Admin panel" link. */
  isAdmin: (user: User) => boolean;
  /** `server.public_url`'s origin: names where a relative `rd` leads. */
  publicOrigin: string;
  /**
   * The protected app, where "Continue" leads without an `rd`: `/` in proxy mode (the app is
   * behind us); null when the proxy in front decides what is where.
   */
  app: string | null;
  csrf: Csrf;
  chrome: PageChrome;
  prefix: string;
  redirectPolicy: RedirectPolicy;
  /**
   * The enabled login methods in page order. A function: the methods are built after the page,
   * since their handlers answer with it.
   */
  methods: () => readonly LoginMethod[];
  /**
   * The step-up page, for `?step_up=` with a signed-in session; a function for the same reason
   * as `methods`. Absent or null: `step_up` is ignored.
   */
  stepUp?: () => StepUp | null;
}

/** Renders the sign-in page; also the answer to a form that needs to be filled in again. */
export type RenderLoginPage = (
  req: IncomingMessage,
  res: ServerResponse,
  options: LoginPageOptions,
) => Promise<void>;

export interface LoginPage {
  render: RenderLoginPage;
  /** GET /auth/login?rd= — one control per enabled method. */
  handle: Handler;
}

export function createLoginPage(deps: LoginPageDeps): LoginPage {
  const render: RenderLoginPage = async (req, res, options) => {
    const csrf = deps.csrf.token(req);
    const headers = options.headers ?? [];
    if (csrf.setCookie) headers.push('Set-Cookie', csrf.setCookie);
    const methods = deps.methods();
    const step = options.step ?? 'email';
    // Scripts only when a method needs one (passkeys, on the first step); the page is then the
    // only one, with the enrolment offer, whose CSP allows our own scripts.
    const scripts =
      step === 'email' ? [...new Set(methods.flatMap((method) => method.scripts ?? []))] : [];
    renderPage(
      deps.chrome,
      req,
      res,
      options.status ?? 200,
      'Sign in',
      loginPageBody({
        prefix: deps.prefix,
        rd: options.rd,
        csrf: csrf.token,
        methods,
        message: options.message ?? null,
        email: options.email,
        step,
      }),
      headers,
      { scripts },
    );
  };

  /** "You're signed in": where to go on, the account, sign out or switch. */
  const landing = (req: IncomingMessage, res: ServerResponse, user: User, rd: string) => {
    const csrf = deps.csrf.token(req);
    // `/` is what a missing or refused `rd` becomes: then the app, when we know where it is.
    const next = rd !== '/' ? rd : deps.app;
    renderPage(
      deps.chrome,
      req,
      res,
      200,
      'Signed in',
      signedInBody({
        prefix: deps.prefix,
        csrf: csrf.token,
        email: user.email,
        admin: deps.isAdmin(user),
        next: next === null ? null : { href: next, label: readableTarget(next, deps.publicOrigin) },
        rd: rd !== '/' ? rd : null,
      }),
      csrf.setCookie ? ['Set-Cookie', csrf.setCookie] : [],
    );
  };

  return {
    render,
    async handle(req, res, query) {
      const rd = safeRedirect(query.get('rd'), deps.redirectPolicy);
      let lookup = null;
      try {
        lookup = await currentSession(deps.session, req);
      } catch {
        // The store has a hiccup: the sign-in page below still renders.
      }
      const live = lookup?.kind === 'valid' ? lookup.live : null;
      // A session that lacks a factor a rule requires: the step-up page. Without a session,
      // the sign-in page as always (a passkey sign-in brings the factor along).
      const need = parseStepUp(query.get('step_up'));
      const stepUp = need === null ? null : (deps.stepUp?.() ?? null);
      if (live !== null && need !== null && stepUp !== null) {
        await stepUp.render(req, res, live, need, rd);
        return;
      }
      if (live !== null) {
        landing(req, res, live.user, rd);
        return;
      }
      const message = LOGIN_MESSAGES[query.get('error') ?? query.get('info') ?? ''] ?? null;
      await render(req, res, { rd, message });
    },
  };
}

/** A target as a person reads it: host and path, a relative one on public_url's host. */
function readableTarget(target: string, publicOrigin: string): string {
  return shortTarget(target.startsWith('/') ? `${publicOrigin}${target}` : target);
}
