import type { Server, ServerResponse } from 'node:http';

/**
 * What a graceful shutdown needs to know about the listener: whether it is draining (readyz
 * answers 503, answers carry `Connection: close`) and which exchanges are still in flight. Per
 * request this is one Set add and one shared `close` listener.
 */
export class Lifecycle {
  draining = false;
  private readonly active = new Set<ServerResponse>();
  private server: Server | null = null;
  private idleWaiters: (() => void)[] = [];
  private sweepQueued = false;
  private readonly release: (this: ServerResponse) => void;

  constructor() {
    const lifecycle = this;
    this.release = function (this: ServerResponse) {
      lifecycle.done(this);
    };
  }

  get inFlight(): number {
    return this.active.size;
  }

  /** Called for every request before it is routed. */
  track(res: ServerResponse): void {
    this.active.add(res);
    res.on('close', this.release);
    // During the drain no connection is kept for another request: the client (or nginx)
    // opens its next one elsewhere, or here if this instance is still the only one.
    if (this.draining) res.shouldKeepAlive = false;
  }

  private done(res: ServerResponse): void {
    this.active.delete(res);
    if (!this.draining) return;
    // An answer whose headers left before the drain began still said keep-alive: its
    // connection is idle now and is closed rather than left for a request that would be cut.
    if (!this.sweepQueued) {
      this.sweepQueued = true;
      setImmediate(() => {
        this.sweepQueued = false;
        this.server?.closeIdleConnections();
      });
    }
    if (this.active.size === 0) this.wake();
  }

  /** readyz turns 503, pending answers say `Connection: close`, idle keep-alives are closed. */
  startDraining(server: Server): void {
    if (this.draining) return;
    this.draining = true;
    this.server = server;
    for (const res of this.active) if (!res.headersSent) res.shouldKeepAlive = false;
    server.closeIdleConnections();
  }

  /** Resolves once no request is in flight (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }
}
