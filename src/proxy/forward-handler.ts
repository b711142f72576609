import type { ServerResponse } from 'node:http';
import type { Timer, Timers } from '../core/clock.js';
import { clientResponseHeaders, contentLength } from './response-headers.js';
import { type UpstreamFailure, upstreamFailure } from './upstream-failure.js';

/**
 * Told when an exchange fails before anything reached the client; `res` is the exchange's (its
 * request is `res.req`), so one listener serves every request and none is made per request.
 */
export type FailureListener = (failure: UpstreamFailure, res: ServerResponse) => void;

/** The exchange's deadlines, one object shared by every exchange of an engine. */
export interface ExchangeTimeouts {
  /** Where timers come from (the injected clock in tests). */
  timers: Timers;
  /** `proxy.timeout`: from dispatch (or the upload's end) until the response headers; 0: none. */
  headersMs: number;
  /** `proxy.body_timeout`: the longest silence inside either body; 0: none. */
  bodyMs: number;
}

function timeoutError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const UPLOAD_STALLED = 'PORTCULLIS_UPLOAD_STALLED';

/** The exchange a response belongs to, so one shared listener serves every response. */
const kExchange = Symbol('portcullis.exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: ForwardHandler };

function onResponseClose(this: TaggedResponse): void {
  this[kExchange]?.clientClosed();
}

function onResponseDrain(this: TaggedResponse): void {
  this[kExchange]?.drained();
}

function onUploadStalled(handler: ForwardHandler): void {
  handler.timedOut(timeoutError(UPLOAD_STALLED, 'the client stopped sending its request body'));
}

function onHeadersLate(handler: ForwardHandler): void {
  handler.timedOut(timeoutError('UND_ERR_HEADERS_TIMEOUT', 'no response headers in time'));
}

function onBodyStalled(handler: ForwardHandler): void {
  handler.timedOut(timeoutError('UND_ERR_BODY_TIMEOUT', 'the response body went silent'));
}

function uncork(res: ServerResponse): void {
  res.uncork();
}

/**
 * One proxied exchange (undici's handler interface, legacy shape: raw header buffers). Per
 * request it allocates this object and the header list; listeners and timer callbacks are
 * shared functions.
 */
export class ForwardHandler {
  private abort: ((error?: Error) => void) | null = null;
  private resume: (() => void) | null = null;
  private clientGone = false;
  private done = false;
  private ended = false;
  private drainHooked = false;
  /** Body bytes the upstream announced (Content-Length), or -1. */
  private expected = -1;
  private timer: Timer | null = null;
  private uploading = false;
  /** A deadline passed before undici handed over its abort. */
  private late: Error | null = null;

  constructor(
    private readonly res: TaggedResponse,
    private readonly onFail: FailureListener,
    private readonly timeouts: ExchangeTimeouts,
  ) {
    res[kExchange] = this;
    res.on('close', onResponseClose);
  }

  /**
   * Starts the clock at dispatch: with a request body, its silences are timed, then the wait
   * for headers once it is sent; without one, the wait for headers starts now.
   */
  start(hasBody: boolean): void {
    const { bodyMs, headersMs } = this.timeouts;
    if (hasBody) {
      this.uploading = true;
      if (bodyMs > 0) this.arm(onUploadStalled, bodyMs);
    } else if (headersMs > 0) this.arm(onHeadersLate, headersMs);
  }

  private arm(fire: (handler: ForwardHandler) => void, ms: number): void {
    this.timer = this.timeouts.timers.start(ms, fire, this);
  }

  clientClosed(): void {
    if (this.done) return;
    this.clientGone = true;
    this.abort?.();
  }

  drained(): void {
    // The response body's silence is either side's: the upstream not sending, or (while the
    // upstream is paused for it) the client not reading. Both end the exchange at body_timeout.
    this.timer?.refresh();
    this.resume?.();
  }

  timedOut(error: Error): void {
    this.timer = null;
    if (this.abort === null) this.late = error;
    else this.abort(error);
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.clientGone) abort();
    else if (this.late !== null) abort(this.late);
    else this.abort = abort;
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      this.timer.close();
      this.timer = null;
    }
  }

  onBodySent(): void {
    this.timer?.refresh();
  }

  onRequestSent(): void {
    if (!this.uploading) return;
    this.uploading = false;
    this.clearTimer();
    const headersMs = this.timeouts.headersMs;
    if (headersMs > 0) this.arm(onHeadersLate, headersMs);
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    // 1xx interim answers (103 Early Hints) are not relayed; the final answer follows.
    if (statusCode < 200) return true;
    // An answer before the upload ended (a 413, say) ends the upload's timing: from here the
    // response body's silences count, and onRequestSent must not start a wait for headers.
    this.uploading = false;
    this.clearTimer();
    const res = this.res;
    if (this.clientGone || res.destroyed) return true;
    const bodyMs = this.timeouts.bodyMs;
    if (bodyMs > 0) this.arm(onBodyStalled, bodyMs);
    this.resume = resume;
    const headers = clientResponseHeaders(raw);
    try {
      res.writeHead(statusCode, headers);
    } catch {
      // Node refused a header the upstream sent: treat the answer as unusable.
      this.done = true;
      this.abort?.();
      this.onFail({ status: 502, reason: 'invalid response header from upstream' }, res);
      return false;
    }
    this.expected = contentLength(headers);
    if (this.expected === -1) {
      // A streamed answer: its first chunk usually arrives in the same parser pass, so cork
      // and let the headers and that chunk leave in one write.
      res.cork();
      process.nextTick(uncork, res);
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.clientGone) return true;
    this.timer?.refresh();
    const res = this.res;
    if (this.expected === chunk.length && !res.headersSent) {
      // The whole announced body in one piece: `end` sends headers and body in one write.
      this.ended = true;
      res.end(chunk);
      return true;
    }
    if (res.write(chunk)) return true;
    if (!this.drainHooked) {
      this.drainHooked = true;
      res.on('drain', onResponseDrain);
    }
    return false;
  }

  onComplete(): void {
    this.done = true;
    this.clearTimer();
    const res = this.res;
    res.off('close', onResponseClose);
    res[kExchange] = undefined;
    if (!this.clientGone && !this.ended) res.end();
  }

  onError(error: Error): void {
    this.done = true;
    this.clearTimer();
    const res = this.res;
    res.off('close', onResponseClose);
    res[kExchange] = undefined;
    if (this.clientGone) return;
    if (res.headersSent || (error as NodeJS.ErrnoException).code === UPLOAD_STALLED) {
      res.destroy();
      return;
    }
    this.onFail(upstreamFailure(error), res);
  }
}
