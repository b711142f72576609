import { buildTarget, type TargetResult } from '../core/target.js';

/** Entries kept; the oldest goes first once full. */
const MAX_ENTRIES = 1024;
/** Longer inputs are parsed every time (and cannot push the common URLs out). */
const MAX_KEY_LENGTH = 1024;

/**
 * `buildTarget` with a memory, one per reverse proxy. Clients ask for the same URLs over and
 * over (assets, API polls), and parsing and normalising one costs more than the rest of the
 * check (the same idea as the forward-auth checks' cache). Only successful parses are kept, by
 * their exact inputs joined with a newline, which no accepted input contains; entries are
 * frozen because every request for that URL shares one.
 */
export class TargetCache {
  private readonly entries = new Map<string, TargetResult>();

  build(scheme: string, host: string, uri: string, method: string): TargetResult {
    const key = `${scheme}\n${host}\n${uri}\n${method}`;
    const known = this.entries.get(key);
    if (known !== undefined) return known;
    const result = buildTarget(scheme, host, uri, method);
    if (!result.ok || key.length > MAX_KEY_LENGTH) return result;
    if (this.entries.size >= MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    Object.freeze(result.target);
    this.entries.set(key, Object.freeze(result));
    return result;
  }
}
