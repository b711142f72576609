import type { IncomingMessage, ServerResponse } from 'node:http';
import { type RedirectPolicy, safeRedirect } from '../../core/redirect.js';
import type { Csrf } from '../csrf.js';
import type { Handler } from '../handler.js';
import type { PageChrome } from '../problem.js';
import { currentSession, type SessionReader } from '../routes/session-routes.js';
import { loginPageBody, type PageMessage } from '../views/login-page.js';
import type { LoginMethod } from './method.js';
import { renderScriptedPage } from './passkey-page.js';
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
  headers?: string[];
}

export interface LoginPageDeps {
  /** Names the signed-in user on the page. */
  session: SessionReader;
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
    let signedInAs: string | null = null;
    try {
      const lookup = await currentSession(deps.session, req);
      if (lookup?.kind === 'valid') signedInAs = lookup.live.user.email;
    } catch {
      // The page must still let people ask for a link while the store has a hiccup.
    }
    const methods = deps.methods();
    // Scripts only when a method needs one (passkeys); the page is then the only one, with the
    // enrolment offer, whose CSP allows our own scripts.
    const scripts = [...new Set(methods.flatMap((method) => method.scripts ?? []))];
    renderScriptedPage(
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
        signedInAs,
      }),
      scripts,
      headers,
    );
  };
  return {
    render,
    async handle(req, res, query) {
      const rd = safeRedirect(query.get('rd'), deps.redirectPolicy);
      // A session that lacks a factor a rule requires: the step-up page. Without a session,
      // the sign-in page as always (a passkey sign-in brings the factor along).
      const need = parseStepUp(query.get('step_up'));
      const stepUp = need === null ? null : (deps.stepUp?.() ?? null);
      if (need !== null && stepUp !== null) {
        let lookup = null;
        try {
          lookup = await currentSession(deps.session, req);
        } catch {
          // The store has a hiccup: the sign-in page below still renders.
        }
        if (lookup?.kind === 'valid') {
          await stepUp.render(req, res, lookup.live, need, rd);
          return;
        }
      }
      const message = LOGIN_MESSAGES[query.get('error') ?? query.get('info') ?? ''] ?? null;
      await render(req, res, { rd, message });
    },
  };
}
