import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SafeHtml } from '../../html.js';
import { renderPage } from '../pages.js';
import type { PageChrome } from '../problem.js';

/** `renderPage` for a page that loads scripts of ours (`scripts`: same-origin URLs). */
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
  renderPage(chrome, req, res, status, title, body, headers, { scripts });
}
