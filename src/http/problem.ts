import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Logger } from 'pino';
import { isPortcullisError, PortcullisError } from '../core/errors.js';
import { html, page } from '../html.js';
import { StoreUnavailableError } from '../ports/store.js';
import { ScimError, type ScimType, scimErrorBody } from '../scim/errors.js';
import { requestId } from './request.js';
import { PAGE_HEADERS, sendBody, sendEmpty, wantsJson } from './respond.js';
import { isScimPath, SCIM_CONTENT_TYPE } from './scim/paths.js';

/**
 * The one place an error becomes an answer (SPEC §5). It takes only the closed error type, so
 * every status and code a client can see is listed in src/core/errors.ts.
 *
 * - `json`: `{"error": code, "message": …}` for API clients (`Accept: application/json`);
 * - `page`: the short HTML page a person reads: what happened, what to do;
 * - `scim`: the RFC 7644 §3.12 envelope, for everything under /scim/v2;
 * - `empty`: status and headers only (refused upgrades, requests Node could not parse).
 *
 * All are no-store; `Retry-After` goes out when the error carries one. A HEAD gets the headers
 * of its GET and no body (`sendBody`).
 */
export type ProblemFormat = 'json' | 'page' | 'scim' | 'empty';

/** What the site's pages share (error pages included), read from the config once. */
export interface SiteLook {
  /** `server.path_prefix`. */
  prefix: string;
  /** `ui.product_name`. */
  productName: string;
  /** Whether `ui.logo_file` is set. */
  hasLogo: boolean;
}

/** The frame of every page: built once by the composition root from `SiteLook`. */
export interface PageChrome {
  productName: string;
  stylesheet: string;
  logoUrl: string | null;
  /** Where an error page's one link goes. */
  signIn: string;
}

export interface RenderedProblem {
  status: number;
  /** Name/value pairs, without Content-Type and Content-Length (the sender adds those). */
  headers: string[];
  /** Null for `empty`. */
  contentType: string | null;
  body: string;
}

export function pageChrome(site: SiteLook): PageChrome {
  return {
    productName: site.productName,
    stylesheet: `${site.prefix}/static/style.css`,
    logoUrl: site.hasLogo ? `${site.prefix}/static/logo` : null,
    signIn: `${site.prefix}/login`,
  };
}

const JSON_TYPE = 'application/json; charset=utf-8';
const HTML_TYPE = 'text/html; charset=utf-8';

/** Which shape this request's errors take: by path for SCIM, by `Accept` otherwise. */
export function problemFormat(req: IncomingMessage): ProblemFormat {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  if (isScimPath(q === -1 ? url : url.slice(0, q))) return 'scim';
  return wantsJson(req) ? 'json' : 'page';
}

function scimTypeOf(error: PortcullisError): ScimType | undefined {
  if (error instanceof ScimError) return error.scimType;
  // A malformed body or form read by the shared readers: the closest RFC 7644 type.
  return error.status === 400 ? 'invalidSyntax' : undefined;
}

function errorPageBody(error: PortcullisError, chrome: PageChrome): string {
  if (error.code === 'headers_too_large') {
    // No sign-in link: the sign-in page would get the same oversized cookies.
    return page({
      title: 'Request too large',
      productName: chrome.productName,
      stylesheet: chrome.stylesheet,
      logoUrl: chrome.logoUrl,
      body: html`<h1>Request too large</h1>
<p class="message error" role="alert">${error.publicMessage}</p>`,
    });
  }
  const status = error.status;
  return page({
    title: 'Something went wrong',
    productName: chrome.productName,
    stylesheet: chrome.stylesheet,
    logoUrl: chrome.logoUrl,
    body: html`<h1>${status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong'}</h1>
<p class="message error" role="alert">${error.publicMessage}</p>
<a class="button" href="${chrome.signIn}">Go to the sign-in page</a>`,
  });
}

/** The answer for `error` in `format`: pure, so a raw socket writer can use it too. */
export function renderProblem(
  error: PortcullisError,
  format: ProblemFormat,
  chrome: PageChrome,
): RenderedProblem {
  const status = error.status;
  const headers: string[] = [];
  if (error.retryAfter !== null) headers.push('Retry-After', String(error.retryAfter));
  switch (format) {
    case 'json':
      headers.push('Cache-Control', 'no-store');
      return {
        status,
        headers,
        contentType: JSON_TYPE,
        body: JSON.stringify({ error: error.code, message: error.publicMessage }),
      };
    case 'scim':
      // The body of a refused upload may still be arriving: closing keeps it from being read.
      if (status === 413) headers.push('Connection', 'close');
      headers.push('Cache-Control', 'no-store', 'X-Content-Type-Options', 'nosniff');
      return {
        status,
        headers,
        contentType: SCIM_CONTENT_TYPE,
        body: JSON.stringify(scimErrorBody(status, error.publicMessage, scimTypeOf(error))),
      };
    case 'page':
      headers.push(...PAGE_HEADERS);
      return { status, headers, contentType: HTML_TYPE, body: errorPageBody(error, chrome) };
    case 'empty':
      headers.push('Cache-Control', 'no-store');
      return { status, headers, contentType: null, body: '' };
  }
}

/**
 * A rendered problem as the bytes of a whole HTTP/1.1 answer, for sockets that have no response
 * object (Node's parser gave up, or an upgrade was refused). The connection closes after it.
 */
export function rawAnswer(rendered: RenderedProblem): string {
  const { status, headers, contentType, body } = rendered;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  let closes = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.toLowerCase() === 'connection') closes = true;
    head += `${name}: ${headers[i + 1]}\r\n`;
  }
  if (contentType !== null) head += `Content-Type: ${contentType}\r\n`;
  head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  if (!closes) head += 'Connection: close\r\n';
  return `${head}\r\n${body}`;
}

/**
 * Answers `error` in the shape this request takes. `headers` are extra fields for this answer
 * (Set-Cookie, WWW-Authenticate); they go out before the mapper's own.
 */
export function answerProblem(
  chrome: PageChrome,
  req: IncomingMessage,
  res: ServerResponse,
  error: PortcullisError,
  headers: string[] = [],
  format: ProblemFormat = problemFormat(req),
): void {
  const rendered = renderProblem(error, format, chrome);
  for (const field of rendered.headers) headers.push(field);
  if (rendered.contentType === null) sendEmpty(res, rendered.status, headers);
  else sendBody(req, res, rendered.status, rendered.contentType, rendered.body, headers);
}

/** Anything thrown, as the closed type: an unknown fault is a 500 whose detail is only logged. */
export function toPortcullisError(error: unknown): PortcullisError {
  if (isPortcullisError(error)) return error;
  return new PortcullisError(
    error instanceof StoreUnavailableError ? 'store_unavailable' : 'internal',
    (error as Error | undefined)?.message,
  );
}

/** What `sendError` needs: the page frame and where to log. */
export interface ErrorDeps {
  chrome: PageChrome;
  logger: Logger;
}

/** What a handler threw, logged and answered. */
export function sendError(
  deps: ErrorDeps,
  req: IncomingMessage,
  res: ServerResponse,
  error: unknown,
): void {
  const known = toPortcullisError(error);
  const logger = deps.logger;
  const log = known.status >= 500 ? logger.error.bind(logger) : logger.info.bind(logger);
  log(
    {
      request_id: requestId(req),
      code: known.code,
      detail: known.message,
      method: req.method,
      path: req.url?.split('?')[0],
    },
    'request failed',
  );
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A body not read to its end is not read at all: say so (the socket closes after the answer).
  if (!req.complete && hasBody(req)) res.shouldKeepAlive = false;
  answerProblem(deps.chrome, req, res, known);
}

export function hasBody(req: IncomingMessage): boolean {
  const headers = req.headers;
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
