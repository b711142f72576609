import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeRedirect } from '../../core/redirect.js';
import type { AppContext } from '../context.js';
import { csrfToken } from '../csrf.js';
import { renderPage } from '../pages.js';
import { currentSession } from '../routes/session-routes.js';
import { loginPageBody, type PageMessage } from '../views/login-page.js';

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

/** Renders the sign-in page; also the answer to a form that needs to be filled in again. */
export async function renderLoginPage(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  options: LoginPageOptions,
): Promise<void> {
  const csrf = csrfToken(ctx, req);
  const headers = options.headers ?? [];
  if (csrf.setCookie) headers.push('Set-Cookie', csrf.setCookie);
  let signedInAs: string | null = null;
  try {
    const lookup = await currentSession(ctx, req);
    if (lookup?.kind === 'valid') signedInAs = lookup.live.user.email;
  } catch {
    // The page must still let people ask for a link while the store has a hiccup.
  }
  renderPage(
    ctx,
    req,
    res,
    options.status ?? 200,
    'Sign in',
    loginPageBody({
      prefix: ctx.config.prefix,
      rd: options.rd,
      csrf: csrf.token,
      methods: ctx.loginMethods,
      message: options.message ?? null,
      email: options.email,
      signedInAs,
    }),
    headers,
  );
}

/** GET /auth/login?rd= — one control per enabled method. */
export async function handleLoginPage(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const rd = safeRedirect(query.get('rd'), ctx.config.redirectPolicy);
  const message = LOGIN_MESSAGES[query.get('error') ?? query.get('info') ?? ''] ?? null;
  await renderLoginPage(ctx, req, res, { rd, message });
}
