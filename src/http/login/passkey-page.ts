import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CONTENT_SECURITY_POLICY,
  page,
  type SafeHtml,
  SCRIPTED_CONTENT_SECURITY_POLICY,
} from '../../html.js';
import type { PageChrome } from '../problem.js';
import { PAGE_HEADERS, sendBody } from '../respond.js';

/** Every page header, with the CSP that lets our own scripts (and their fetches to us) run. */
const SCRIPTED_PAGE_HEADERS: readonly string[] = PAGE_HEADERS.map((value) =>
  value === CONTENT_SECURITY_POLICY ? SCRIPTED_CONTENT_SECURITY_POLICY : value,
);

/**
 * `renderPage` for a page that loads scripts of ours (`scripts`: same-origin URLs). Only such
 * pages get `script-src 'self'`; every other page keeps the CSP without scripts at all.
 */
export function renderScriptedPage(
  chrome: PageChrome,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  title: string,
  body: SafeHtml,
  scripts: readonly string[],
  headers: string[] = [],
): void {
  const document = page({
    title,
    productName: chrome.productName,
    stylesheet: chrome.stylesheet,
    logoUrl: chrome.logoUrl,
    body,
    scripts,
  });
  headers.push(...(scripts.length > 0 ? SCRIPTED_PAGE_HEADERS : PAGE_HEADERS));
  sendBody(req, res, status, 'text/html; charset=utf-8', document, headers);
}
