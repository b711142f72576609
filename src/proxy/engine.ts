import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
import { clientResponseHeaders, contentLength } from './response-headers.js';
import { type UpstreamFailure, upstreamFailure } from './upstream-failure.js';
import { closeFrame, FrameBoundaries } from './websocket-frames.js';

/**
 * The forwarding engine, and the only file that knows which HTTP client carries requests to
 * the upstream. undici won the measurement (docs/reverse-proxy.md): a keep-alive `Pool` driven
 * through `dispatch` with a handler, so a response goes from undici's parser straight into
 * the client's `ServerResponse` without a stream or promise per request. WebSocket upgrades
 * go through the same pool (`upgrade: 'websocket'`) and the two sockets are then piped.
 */

export interface EngineOptions {
  /** `http://host:port` of the upstream. */
  origin: string;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  /** Longest silence inside a response body; null: none. */
  bodyTimeoutMs: number | null;
  /** Largest response header block accepted from the upstream. */
  maxHeaderSize?: number;
}

/**
 * Told when an exchange fails before anything reached the client; `res` is the exchange's (its
 * request is `res.req`), so one listener serves every request and none is made per request.
 */
export type FailureListener = (failure: UpstreamFailure, res: ServerResponse) => void;

/** An open WebSocket tunnel: two sockets piped into each other. */
export interface Tunnel {
  /** Ends both sides at once (TCP close: the browser sees close code 1006 and reconnects). */
  close(): void;
  /**
   * Shutdown: sends the client a 1001 (going away) close frame between two of the upstream's
   * frames; the client's answering close frame reaches the upstream, which then hangs up.
   */
  goAway(): void;
  readonly closed: boolean;
  onClose(listener: () => void): void;
}

export interface UpgradeListener {
  /** The upstream accepted (101) and the sockets are joined. */
  open(tunnel: Tunnel): void;
  /** Nothing reached the client yet: the caller answers with an error page. */
  fail(failure: UpstreamFailure): void;
}

export class ProxyEngine {
  private readonly pool: Pool;

  constructor(private readonly options: EngineOptions) {
    this.pool = new Pool(options.origin, {
      // No cap: each client connection gets its own upstream connection when it needs one,
      // as nginx does; idle ones are reused (keep-alive) and expire after keepAliveTimeout.
      connections: null,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      connect: { timeout: options.connectTimeoutMs, noDelay: true },
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs ?? 0,
      maxHeaderSize: Math.max(64 * 1024, options.maxHeaderSize ?? 0),
      strictContentLength: true,
    });
  }

  /**
   * Sends `req` on to the upstream and streams the answer into `res`, with back-pressure both
   * ways and no buffering. `onFail` is called when nothing has been written to `res` yet;
   * after that, a failure closes the client connection (a truncated body must not look whole).
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    headers: string[],
    hasBody: boolean,
    onFail: FailureListener,
  ): void {
    const handler = new ForwardHandler(res, onFail);
    if (hasBody) handler.watchUpload(this.options.headersTimeoutMs, this.options.bodyTimeoutMs);
    this.pool.dispatch(
      {
        method: req.method ?? 'GET',
        path,
        headers,
        body: hasBody ? req : null,
        // undici's header timer runs from dispatch, so a long upload would trip it: with a
        // body the handler times the upload's silences and then the wait for headers itself.
        headersTimeout: hasBody ? 0 : this.options.headersTimeoutMs,
      },
      handler,
    );
  }

  /** Forwards a WebSocket handshake; on 101 the client and upstream sockets are piped. */
  upgrade(
    socket: Socket,
    head: Buffer,
    path: string,
    headers: string[],
    listener: UpgradeListener,
  ): void {
    const handler = new UpgradeHandler(socket, head, listener);
    socket.on('close', handler.onClientClose);
    socket.on('error', noop);
    this.pool.dispatch({ method: 'GET', path, headers, upgrade: 'websocket' }, handler);
  }

  /** Connections currently open to the upstream (idle or busy), for tests and metrics. */
  get upstreamConnections(): number {
    return this.pool.stats.connected;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

function noop(): void {}

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

function uncork(res: ServerResponse): void {
  res.uncork();
}

/**
 * One proxied exchange (undici's handler interface, legacy shape: raw header buffers). Per
 * request it allocates this object and the header list; listeners and timer callbacks are
 * shared functions.
 */
class ForwardHandler {
  private abort: ((error?: Error) => void) | null = null;
  private resume: (() => void) | null = null;
  private clientGone = false;
  private done = false;
  private ended = false;
  private drainHooked = false;
  /** Body bytes the upstream announced (Content-Length), or -1. */
  private expected = -1;
  private timer: NodeJS.Timeout | null = null;
  private headersMs = 0;
  private idleMs: number | null = null;

  constructor(
    private readonly res: TaggedResponse,
    private readonly onFail: FailureListener,
  ) {
    res[kExchange] = this;
    res.on('close', onResponseClose);
  }

  clientClosed(): void {
    if (this.done) return;
    this.clientGone = true;
    this.abort?.();
  }

  drained(): void {
    this.resume?.();
  }

  timedOut(error: Error): void {
    this.timer = null;
    this.abort?.(error);
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.clientGone) abort();
    else this.abort = abort;
  }

  /** Times a request body: silences longer than `idleMs`, then `headersMs` for the answer. */
  watchUpload(headersMs: number, idleMs: number | null): void {
    this.headersMs = headersMs;
    this.idleMs = idleMs;
    if (idleMs !== null && idleMs > 0) this.timer = setTimeout(onUploadStalled, idleMs, this);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  onBodySent(): void {
    this.timer?.refresh();
  }

  onRequestSent(): void {
    if (this.idleMs === null && this.headersMs === 0) return;
    this.clearTimer();
    if (this.headersMs > 0) this.timer = setTimeout(onHeadersLate, this.headersMs, this);
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    // 1xx interim answers (103 Early Hints) are not relayed; the final answer follows.
    if (statusCode < 200) return true;
    this.clearTimer();
    const res = this.res;
    if (this.clientGone || res.destroyed) return true;
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

/** A WebSocket handshake and, once the upstream agrees, the tunnel it becomes. */
class UpgradeHandler {
  private abort: ((error?: Error) => void) | null = null;
  private clientGone = false;
  private relaying = false;

  constructor(
    private readonly client: Socket,
    private readonly head: Buffer,
    private readonly listener: UpgradeListener,
  ) {}

  readonly onClientClose = (): void => {
    this.clientGone = true;
    this.abort?.();
  };

  onConnect(abort: (error?: Error) => void): void {
    if (this.clientGone) abort();
    else this.abort = abort;
  }

  onUpgrade(statusCode: number, raw: Buffer[] | string[] | null, upstream: Duplex): void {
    const client = this.client;
    client.off('close', this.onClientClose);
    if (this.clientGone || client.destroyed) {
      upstream.destroy();
      return;
    }
    const headers = clientResponseHeaders((raw ?? []) as Buffer[], true);
    let head = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    client.write(`${head}\r\n`, 'latin1');
    if (this.head.length > 0) upstream.write(this.head);
    this.listener.open(joinSockets(client, upstream as Socket));
  }

  /** The upstream declined the upgrade: relay its answer, then close (never reuse this socket). */
  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    const client = this.client;
    if (this.clientGone || client.destroyed) return true;
    this.relaying = true;
    const headers = clientResponseHeaders(raw);
    let head = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Status'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) {
      const lower = (headers[i] as string).toLowerCase();
      if (lower === 'content-length') continue;
      head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    client.write(`${head}Connection: close\r\n\r\n`, 'latin1');
    client.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.clientGone) return true;
    return this.client.write(chunk);
  }

  onComplete(): void {
    this.client.off('close', this.onClientClose);
    this.client.end();
  }

  onError(error: Error): void {
    this.client.off('close', this.onClientClose);
    if (this.clientGone) return;
    if (this.relaying) {
      this.client.destroy();
      return;
    }
    this.listener.fail(upstreamFailure(error));
  }
}

/** Pipes two sockets into each other; either side ending or failing ends both. */
function joinSockets(client: Socket, upstream: Socket): Tunnel {
  const listeners: (() => void)[] = [];
  let closed = false;
  const frames = new FrameBoundaries();
  let goingAway = false;
  let saidGoodbye = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    client.destroy();
    upstream.destroy();
    for (const listener of listeners) listener();
  };
  // Small frames (chat tokens, editor events) must not wait for Nagle's algorithm.
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.setTimeout(0);
  upstream.setTimeout(0);
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  const goodbye = (): void => {
    saidGoodbye = true;
    client.write(closeFrame(1001));
    // Whatever the upstream still sends is read and dropped: the client was told goodbye.
    upstream.resume();
  };
  // Upstream to client is relayed by hand, not piped, to know where its frames begin.
  upstream.on('data', (chunk: Buffer) => {
    if (saidGoodbye) return;
    if (!goingAway) {
      frames.feed(chunk);
      if (!client.write(chunk)) upstream.pause();
      return;
    }
    const cut = frames.feed(chunk, 0, true);
    if (cut > 0) client.write(chunk.subarray(0, cut));
    if (frames.atBoundary) goodbye();
  });
  client.on('drain', () => upstream.resume());
  upstream.on('end', () => client.end());
  upstream.on('close', () => {
    // After a goodbye the client's own close frame may still be on its way out: end, not
    // destroy, and let the client's socket close the tunnel (the drain deadline bounds it).
    if (saidGoodbye && !closed) client.end();
    else close();
  });
  // A half-close is passed on (a WebSocket close handshake ends with one), then both go.
  client.pipe(upstream);
  return {
    close,
    goAway() {
      if (closed || goingAway) return;
      goingAway = true;
      if (frames.atBoundary) goodbye();
    },
    get closed() {
      return closed;
    },
    onClose(listener) {
      if (closed) listener();
      else listeners.push(listener);
    },
  };
}
