import { GroupVersionConflictError } from '../ports/groups.js';

/**
 * Runs a read-change-write of one group again while another writer changed the group between
 * its read and its compare-and-set, with a small random pause so two retrying writers fall out
 * of step. After `tries` conflicts it answers what `giveUp` makes of the last one: each caller
 * says "busy" in its own terms (a refusal for the admin panel, a 503 for SCIM).
 */
export async function retryOnVersionConflict<T, G>(
  task: () => Promise<T>,
  options: {
    tries: number;
    /** Jitter for the pause; `Math.random` unless a test injects one. */
    random?: (() => number) | undefined;
    giveUp: (conflict: GroupVersionConflictError, attempts: number) => G;
  },
): Promise<T | G> {
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await task();
    } catch (error) {
      if (!(error instanceof GroupVersionConflictError)) throw error;
      if (attempt >= options.tries) return options.giveUp(error, attempt);
      await new Promise((resolve) => setTimeout(resolve, random() * 5 * attempt));
    }
  }
}
