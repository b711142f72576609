import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type Dispatcher, Pool } from 'undici';
import { systemTimers, type Timers } from '../core/clock.js';
import { connectorOnTimers } from './connector.js';
import { type ExchangeTimeouts, type FailureListener, ForwardHandler } from './forward-handler.js';
import { UpgradeHandler, type UpgradeListener } from './upgrade-handler.js';

export type { FailureListener } from './forward-handler.js';
export type { Tunnel } from './join-sockets.js';
export type { UpgradeListener } from './upgrade-handler.js';

/**
 * The forwarding engine, and the only file that knows which HTTP client carries requests to
 * the upstream. undici won the measurement (docs/reverse-proxy.md): a keep-alive `Pool` driven
 * through `dispatch` with a handler, so a response goes from undici's parser straight into
 * the client's `ServerResponse` without a stream or promise per request. WebSocket upgrades
 * go through the same pool (`upgrade: 'websocket'`) and the two sockets are then piped.
 * `forward-handler.ts` and `upgrade-handler.ts` are the handlers it dispatches with: they
 * implement undici's handler shape without importing undici, so swapping the client touches
 * this file and those two.
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
  /** Where the exchange deadlines' timers come from; Node's own by default. */
  timers?: Timers;
}

export class ProxyEngine {
  private readonly pool: Pool;
  private readonly timeouts: ExchangeTimeouts;
  /**
   * Given to undici with every request so it never takes one from the request's Host (it would,
   * and close the kept-alive TLS connection whenever that changes); the connector sends SNI from
   * the upstream URL either way.
   */
  private readonly servername: string;

  constructor(options: EngineOptions) {
    // Every deadline is ours, on the injected timers: connecting (connector.ts), then the
    // exchange's (forward-handler.ts, upgrade-handler.ts); undici's header and body timers are off.
    this.timeouts = {
      timers: options.timers ?? systemTimers,
      headersMs: options.headersTimeoutMs,
      bodyMs: options.bodyTimeoutMs ?? 0,
    };
    this.servername = new URL(options.origin).hostname;
    this.pool = new Pool(options.origin, {
      // No cap: each client connection gets its own upstream connection when it needs one,
      // as nginx does; idle ones are reused (keep-alive) and expire after keepAliveTimeout.
      connections: null,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      connect: connectorOnTimers(this.timeouts.timers, options.connectTimeoutMs),
      headersTimeout: 0,
      bodyTimeout: 0,
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
    const handler = new ForwardHandler(res, onFail, this.timeouts);
    handler.start(hasBody);
    const request: Dispatcher.DispatchOptions & { servername: string } = {
      method: req.method ?? 'GET',
      path,
      headers,
      body: hasBody ? req : null,
      servername: this.servername,
    };
    this.pool.dispatch(request, handler);
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
    handler.start(this.timeouts.timers, this.timeouts.headersMs);
    socket.on('close', handler.onClientClose);
    socket.on('error', noop);
    const request: Dispatcher.DispatchOptions & { servername: string } = {
      method: 'GET',
      path,
      headers,
      upgrade: 'websocket',
      servername: this.servername,
    };
    this.pool.dispatch(request, handler);
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
