import type { IncomingMessage, ServerResponse } from 'node:http';
import { html, page, type SafeHtml } from '../html.js';
import type { AppContext } from './context.js';
import { sendHtml, sendJson, wantsJson } from './respond.js';

export function logoUrl(ctx: AppContext): string | null {
  return ctx.config.logo ? `${ctx.config.prefix}/static/logo` : null;
}

export function stylesheetUrl(ctx: AppContext): string {
  return `${ctx.config.prefix}/static/style.css`;
}

export function renderPage(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  title: string,
  body: SafeHtml,
  headers: string[] = [],
): void {
  sendHtml(
    req,
    res,
    status,
    page({
      title,
      productName: ctx.productName,
      stylesheet: stylesheetUrl(ctx),
      logoUrl: logoUrl(ctx),
      body,
    }),
    headers,
  );
}

/** The short page every person-facing error gets: what happened, what to do. */
export function errorPage(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  message: string,
  headers: string[] = [],
): void {
  renderPage(
    ctx,
    req,
    res,
    status,
    'Something went wrong',
    html`<h1>${status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong'}</h1>
<p class="message error" role="alert">${message}</p>
<a class="button" href="${ctx.config.prefix}/login">Go to the sign-in page</a>`,
    headers,
  );
}

/**
 * An error said to whoever asked (SPEC §5): JSON `{"error": code, "message": …}` to an API client
 * (`Accept: application/json`), the short page above to a person. Both are no-store.
 */
export function sendProblem(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: string[] = [],
): void {
  if (wantsJson(req)) sendJson(req, res, status, { error: code, message }, headers);
  else errorPage(ctx, req, res, status, message, headers);
}
