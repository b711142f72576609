import { PortcullisError } from '../core/errors.js';
import { type PageChrome, type ProblemFormat, rawAnswer, renderProblem } from './problem.js';
import { isScimPath } from './scim/paths.js';

/** Sniffs `Accept: application/json` in what was read: the overflowing headers are never parsed. */
const ACCEPTS_JSON = /\r\naccept:[^\r\n]*application\/json/i;
/** The request-target of the request line, up to its query. */
const REQUEST_PATH = /^[A-Z]+ ([^ ?\r\n]*)/;

/** An answer written on a socket that has no response object to answer through. */
export function rawProblem(
  chrome: PageChrome,
  error: PortcullisError,
  format: ProblemFormat,
): string {
  return rawAnswer(renderProblem(error, format, chrome));
}

/**
 * The whole 431 answer, written on the socket: Node's parser gave up, so there is no request
 * or response object to answer through. Same shapes as every other error (SPEC §5).
 */
export function headersTooLarge(
  chrome: PageChrome,
  limit: number,
  raw: Buffer | undefined,
): string {
  const message = `The request's headers are larger than this server accepts (${Math.round(limit / 1024)} KB). Clearing this site's cookies usually fixes it.`;
  const text = raw?.toString('latin1') ?? '';
  const format: ProblemFormat = isScimPath(REQUEST_PATH.exec(text)?.[1] ?? '')
    ? 'scim'
    : ACCEPTS_JSON.test(text)
      ? 'json'
      : 'page';
  return rawProblem(chrome, new PortcullisError('headers_too_large', 'headers', message), format);
}
