import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ERROR_CODES,
  type ErrorCode,
  isErrorCode,
  PortcullisError,
  statusOf,
} from '../core/errors.js';
import {
  CONTENT_SECURITY_POLICY,
  page,
  type SafeHtml,
  SCRIPTED_CONTENT_SECURITY_POLICY,
} from '../html.js';
import { answerProblem, type PageChrome } from './problem.js';
import { PAGE_HEADERS, sendBody } from './respond.js';

/** Every page header, with the CSP that lets our own scripts (and their fetches to us) run. */
const SCRIPTED_PAGE_HEADERS: readonly string[] = PAGE_HEADERS.map((value) =>
  value === CONTENT_SECURITY_POLICY ? SCRIPTED_CONTENT_SECURITY_POLICY : value,
);

/** How a page differs from the plain one: a wider card, or scripts of ours. */
export interface PageExtras {
  /** A wider card, for tables (the account page). */
  wide?: boolean;
  /**
   * Same-origin scripts (the passkey pages). Only such pages get `script-src 'self'`; every
   * other page keeps the CSP without scripts at all.
   */
  scripts?: readonly string[];
}

/** A page in the site's frame (title, stylesheet, logo). */
export function renderPage(
  chrome: PageChrome,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  title: string,
  body: SafeHtml,
  headers: string[] = [],
  extras: PageExtras = {},
): void {
  const scripts = extras.scripts ?? [];
  const document = page({
    title,
    productName: chrome.productName,
    stylesheet: chrome.stylesheet,
    logoUrl: chrome.logoUrl,
    body,
    wide: extras.wide ?? false,
    scripts,
  });
  headers.push(...(scripts.length > 0 ? SCRIPTED_PAGE_HEADERS : PAGE_HEADERS));
  sendBody(req, res, status, 'text/html; charset=utf-8', document, headers);
}

/**
 * The older call shape of `answerProblem` (src/http/problem.ts), kept for callers not yet moved
 * to it (forward-auth, the reverse proxy). Status and code must be one pair of the closed set;
 * a status the code does not have keeps its status under the first code that has it, so a
 * mismatch can never turn an error into a different status. A `Retry-After` among `headers`
 * becomes the error's own.
 */
export function sendProblem(
  chrome: PageChrome,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: string[] = [],
): void {
  let retryAfter: number | null = null;
  const extra: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (name.toLowerCase() === 'retry-after' && /^\d+$/.test(value)) retryAfter = Number(value);
    else extra.push(name, value);
  }
  const closed: ErrorCode =
    isErrorCode(code) && statusOf(code) === status
      ? code
      : (ERROR_CODES.find((c) => statusOf(c) === status) ?? 'internal');
  answerProblem(
    chrome,
    req,
    res,
    new PortcullisError(closed, closed === code ? undefined : `unlisted code ${code}`, message, {
      retryAfter,
    }),
    extra,
  );
}
