import type { Logger } from 'pino';
import { retryOnVersionConflict } from '../services/retry-on-version-conflict.js';
import { ScimError } from './errors.js';

/** Read-modify-write attempts on one group before giving up (each loses only to a write that won). */
const GROUP_WRITE_TRIES = 10;

export interface WriteQueueDeps {
  logger: Pick<Logger, 'warn'>;
  /** Jitter for the retry backoff; `Math.random` unless a test injects one. */
  random?: () => number;
}

/**
 * How SCIM writes take turns. On this instance they run one at a time (provisioning clients
 * send few, mostly sequential requests); across instances a group is written with
 * compare-and-set on its version and the whole read-modify-write is retried on a conflict.
 */
export class WriteQueue {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: WriteQueueDeps) {}

  /** Runs `task` after every write queued before it. */
  serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Runs `task` (read the group, change it, `updateGroup`) again while another instance wrote
   * the group between its read and its write, with a small random pause so two retrying
   * instances fall out of step. After GROUP_WRITE_TRIES conflicts it answers 503: the request
   * was valid and nothing was applied, the contention is ours and passes, so the client should
   * retry it — IdPs do retry 5xx — whereas 409 means "uniqueness" in SCIM (RFC 7644 §3.12) and
   * 412 is for a client-sent stale `If-Match` (§3.14); neither fits and both are final.
   */
  retryOnConflict<T>(task: () => Promise<T>): Promise<T> {
    return retryOnVersionConflict(task, {
      tries: GROUP_WRITE_TRIES,
      random: this.deps.random,
      giveUp: (conflict, attempts): never => {
        this.deps.logger.warn(
          { group_id: conflict.id, attempts },
          'scim: group kept changing under concurrent writes; giving up',
        );
        throw new ScimError(
          503,
          'The group is being changed by another request. Try again.',
          undefined,
          'busy',
        );
      },
    });
  }
}
