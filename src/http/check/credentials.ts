import type { HeaderBag } from '../../core/app-token-extract.js';
import type { CheckRequest } from './verdict.js';

/**
 * The request headers a token is looked for in. Node keeps only the first of repeated
 * `Authorization` / `Proxy-Authorization` lines in `req.headers`; a token in a later one would
 * then go unseen (and on to the app), so repeats are collected from the raw lines and the
 * extractor refuses them as more than one credential.
 */
export function credentialHeaders(req: CheckRequest): HeaderBag {
  const raw = req.rawHeaders;
  let authorization = 0;
  let proxy = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === 'authorization') authorization++;
    else if (name.length === 19 && name.toLowerCase() === 'proxy-authorization') proxy++;
  }
  if (authorization < 2 && proxy < 2) return req.headers;
  const bag: Record<string, string | string[] | undefined> = { ...req.headers };
  const all: Record<string, string[]> = { authorization: [], 'proxy-authorization': [] };
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    all[name]?.push(raw[i + 1] as string);
  }
  if (authorization > 1) bag.authorization = all.authorization;
  if (proxy > 1) bag['proxy-authorization'] = all['proxy-authorization'];
  return bag;
}
