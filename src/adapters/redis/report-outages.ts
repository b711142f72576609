import { type Command, ReplyError } from 'ioredis';
import { StoreUnavailableError } from '../../ports/store.js';

/*
 * Every command the store issues — direct, auto-pipelined or a defined Lua script (EVALSHA and
 * its EVAL fallback) — reaches the client's `sendCommand`, and every way ioredis fails a command
 * goes through that command's `reject`. Swapping `reject` there classifies each failure once, at
 * the adapter, without a try/catch per store method. On success nothing extra runs or is
 * allocated: no wrapping promise, no closure (the replacement is one shared function that reads
 * the original from the command).
 *
 * This holds only with auto-pipelining off (see `baseOptions`): an auto-pipelined command on a
 * Cluster whose slot map is not known yet waits in `delayUntilReady` and is rejected from there,
 * and a pipeline that fails as a whole (keys whose slots moved apart between queueing and
 * sending) rejects its callers directly, both without a command `reject` to swap; a MOVED
 * inside a pipeline also skipped the Cluster's redirect handling and reached the caller raw.
 */

const originalReject = Symbol('portcullis.originalReject');
const wrappedPromise = Symbol('portcullis.wrappedPromise');

type Tracked = Command & {
  [originalReject]?: (error: Error) => void;
  [wrappedPromise]?: Promise<unknown>;
};

interface CommandSender {
  sendCommand(command: Command, stream?: unknown, node?: unknown): unknown;
}

/**
 * Redis error replies that mean "not now" rather than "wrong": the server is still loading its
 * dataset, has lost its master, is a replica just demoted by a Sentinel failover (READONLY), or
 * its cluster is down, resharding or has a node rejoining (a MOVED or ASK that outlived the
 * Cluster client's redirects). The word before the first space is the reply's error code
 * (RESP "simple errors").
 */
const TRANSIENT_REPLY = new Set([
  'LOADING',
  'MASTERDOWN',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'READONLY',
  'MOVED',
  'ASK',
]);

const ReplyErrorClass: abstract new (...args: never[]) => Error = ReplyError;

/**
 * Whether a command failed because Redis was unreachable, not ready, or too slow. Anything that
 * is not an error reply comes from ioredis' connection layer (closed connection, stream not
 * writeable with the offline queue off, retries exhausted, `commandTimeout`); an error reply is
 * an outage only for the transient codes above. WRONGTYPE, a Lua error, NOSCRIPT and the like
 * are faults and are passed on unchanged.
 */
function isOutage(error: Error): boolean {
  if (error instanceof StoreUnavailableError) return false;
  if (!(error instanceof ReplyErrorClass)) return true;
  const space = error.message.indexOf(' ');
  return TRANSIENT_REPLY.has(space === -1 ? error.message : error.message.slice(0, space));
}

function rejectClassified(this: Tracked, error: Error): void {
  // Set together with this function in `sendCommand`, so always present here.
  const reject = this[originalReject] as (error: Error) => void;
  reject.call(this, isOutage(error) ? new StoreUnavailableError(error) : error);
}

/** Makes every failed command of `client` that is an outage reject with `StoreUnavailableError`. */
export function reportOutages(client: CommandSender): void {
  const send = client.sendCommand;
  client.sendCommand = function sendCommand(
    this: CommandSender,
    command: Command,
    stream?: unknown,
    node?: unknown,
  ): unknown {
    const tracked = command as Tracked;
    // A command can come back here (reconnect-on-error resends it; a cluster pipeline renews its
    // promise with `initPromise` and resends). Wrap once per promise: wrapping again would put
    // this classifier inside ioredis' own reject wrappers (cluster MOVED/CLUSTERDOWN retries,
    // script NOSCRIPT handling), which must see the raw error.
    if (tracked[wrappedPromise] !== tracked.promise) {
      tracked[wrappedPromise] = tracked.promise;
      tracked[originalReject] = tracked.reject;
      tracked.reject = rejectClassified;
    }
    return send.call(this, command, stream, node);
  };
}
