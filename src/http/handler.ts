import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Csrf } from './csrf.js';
import type { PageChrome } from './problem.js';
import type { TrustedProxies } from './request.js';

/**
 * A route's handler: each is built with the few services and values it uses, so a request
 * brings only itself and its query (empty for the auth checks, which read no query).
 */
export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
) => void | Promise<void>;

/** What a handler that answers with a page of ours (and reads its forms) uses. */
export interface PageDeps {
  csrf: Csrf;
  /** For the client address an audit line names. */
  proxies: TrustedProxies;
  chrome: PageChrome;
  /** `server.path_prefix`. */
  prefix: string;
}
