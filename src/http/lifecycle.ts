import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';

/** See `sweepLater`: long against a proxy's reuse of a pooled connection, short against a drain. */
export const IDLE_GRACE_MS = 250;

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
  private quietWaiters: (() => void)[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
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
    // connection goes idle now and is closed once it has stayed idle IDLE_GRACE_MS.
    if (res.shouldKeepAlive) this.sweepLater();
    if (this.active.size === 0) this.wake();
  }

  /** readyz turns 503, pending answers say `Connection: close`, idle keep-alives are closed. */
  startDraining(server: Server): void {
    if (this.draining) return;
    this.draining = true;
    this.server = server;
    for (const res of this.active) if (!res.headersSent) res.shouldKeepAlive = false;
    this.sweepLater();
  }

  /**
   * Closes idle keep-alive connections IDLE_GRACE_MS after the last one went idle. Closing one
   * the moment it is idle races the client: nginx reuses a pooled connection at once, and a
   * request already on the wire is cut (retried by nginx for GET/HEAD, a 502 for a POST).
   * A connection still in use gets its next answer with `Connection: close` instead.
   */
  private sweepLater(): void {
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = null;
      this.server?.closeIdleConnections();
      const waiters = this.quietWaiters;
      this.quietWaiters = [];
      for (const waiter of waiters) waiter();
    }, IDLE_GRACE_MS);
    this.sweepTimer.unref();
  }

  /**
   * Stops taking connections: a proxy's connect is refused, which it retries elsewhere for any
   * method. Not http's own `close`, which also closes every connection idle at that instant, a
   * just-accepted one whose request is still unread included (a reset the proxy sees as a cut
   * request). Those are left to send it; what stays idle is swept IDLE_GRACE_MS later.
   */
  stopAccepting(): void {
    if (this.server?.listening) NetServer.prototype.close.call(this.server);
    this.sweepLater();
  }

  /** Resolves once the idle connections of the drain have been swept (at once if none is due). */
  whenQuiet(): Promise<void> {
    if (!this.sweepTimer) return Promise.resolve();
    return new Promise((resolve) => this.quietWaiters.push(resolve));
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
