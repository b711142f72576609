import { buildTarget, parseAbsoluteTarget, type TargetResult } from './target.js';

/** Request-targets kept; the oldest goes first once full. */
const MAX_ENTRIES = 1024;
/** Longer inputs are parsed every time (and cannot push the common URLs out). */
const MAX_KEY_LENGTH = 1024;

/** Hosts, schemes and methods kept per request-target (`/` under several virtual hosts). */
const MAX_VARIANTS = 4;

interface Entry {
  scheme: string;
  host: string;
  method: string;
  result: TargetResult;
}

/**
 * `buildTarget` and `parseAbsoluteTarget` with a memory (the forward-auth checks share one, each
 * reverse proxy has its own). Proxies ask about the same URLs over and over (assets, API polls),
 * and parsing and normalising one costs more than the rest of a cached check. Only successful
 * parses of inputs up to MAX_KEY_LENGTH are kept, by their exact inputs, oldest out first: a split
 * target is looked up by request-target, then scheme, Host and method are compared; an absolute
 * URL is its own key and the method is compared on the entry. So a hit builds no key string.
 * Entries are frozen because every request for that URL shares one.
 */
export class TargetCache {
  private readonly byUri = new Map<string, Entry[]>();
  private readonly byUrl = new Map<string, TargetResult>();

  absolute(url: string, method: string): TargetResult {
    const known = this.byUrl.get(url);
    if (known?.ok && known.target.method === method) return known;
    const result = parseAbsoluteTarget(url, method);
    if (!result.ok || url.length > MAX_KEY_LENGTH) return result;
    Object.freeze(result.target);
    if (this.byUrl.size >= MAX_ENTRIES && !this.byUrl.has(url)) {
      const oldest = this.byUrl.keys().next().value;
      if (oldest !== undefined) this.byUrl.delete(oldest);
    }
    this.byUrl.set(url, Object.freeze(result));
    return result;
  }

  build(scheme: string, host: string, uri: string, method: string): TargetResult {
    const variants = this.byUri.get(uri);
    if (variants !== undefined) {
      for (let i = 0; i < variants.length; i++) {
        const entry = variants[i] as Entry;
        if (entry.host === host && entry.method === method && entry.scheme === scheme) {
          return entry.result;
        }
      }
    }
    const result = buildTarget(scheme, host, uri, method);
    if (!result.ok || uri.length + host.length > MAX_KEY_LENGTH) return result;
    Object.freeze(result.target);
    const entry: Entry = { scheme, host, method, result: Object.freeze(result) };
    if (variants !== undefined) {
      if (variants.length >= MAX_VARIANTS) variants.shift();
      variants.push(entry);
      return result;
    }
    if (this.byUri.size >= MAX_ENTRIES) {
      const oldest = this.byUri.keys().next().value;
      if (oldest !== undefined) this.byUri.delete(oldest);
    }
    this.byUri.set(uri, [entry]);
    return result;
  }
}
