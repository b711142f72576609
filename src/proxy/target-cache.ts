import { buildTarget, type TargetResult } from '../core/target.js';

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
 * `buildTarget` with a memory, one per reverse proxy. Clients ask for the same URLs over and
 * over (assets, API polls), and parsing and normalising one costs more than the rest of the
 * check (the same idea as the forward-auth checks' cache). Only successful parses are kept, by
 * their exact inputs: looked up by request-target, then the scheme, Host and method are compared,
 * so a hit builds no key string. Entries are frozen because every request for that URL shares one.
 */
export class TargetCache {
  private readonly byUri = new Map<string, Entry[]>();

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
