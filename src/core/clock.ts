/** Everything that reads the time goes through this, so expiry is testable without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * A running timer: `refresh` starts its wait again (also after it fired), `close` stops it for
 * good. Node's Timeout is one.
 */
export interface Timer {
  refresh(): unknown;
  close(): unknown;
}

/**
 * Starts timers. The proxy's timeouts (proxy.timeout, proxy.body_timeout, an upload's
 * silences, a WebSocket handshake's wait) go through this, so tests move them by hand.
 */
export interface Timers {
  start<A>(ms: number, fire: (arg: A) => void, arg: A): Timer;
}

/** Node's own timers: `setTimeout` hands back a Timeout, which already is a `Timer`. */
export const systemTimers: Timers = {
  start: (ms, fire, arg) => setTimeout(fire, ms, arg),
};

/** A clock tests move by hand; its timers fire, in order, while `advance` passes their time. */
export class ManualClock implements Clock, Timers {
  private readonly pending = new Set<ManualTimer>();

  constructor(private current = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  start<A>(ms: number, fire: (arg: A) => void, arg: A): Timer {
    const timer = new ManualTimer(
      this.pending,
      () => this.current,
      ms,
      () => fire(arg),
    );
    timer.refresh();
    return timer;
  }

  /** Timers waiting to fire. */
  get timers(): number {
    return this.pending.size;
  }

  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      let next: ManualTimer | null = null;
      for (const timer of this.pending) {
        if (timer.due <= end && (next === null || timer.due < next.due)) next = timer;
      }
      if (next === null) break;
      this.current = Math.max(this.current, next.due);
      this.pending.delete(next);
      next.fire();
    }
    this.current = end;
  }
}

class ManualTimer implements Timer {
  due = 0;
  private closed = false;

  constructor(
    private readonly pending: Set<ManualTimer>,
    private readonly now: () => number,
    private readonly ms: number,
    readonly fire: () => void,
  ) {}

  refresh(): this {
    if (this.closed) return this;
    this.due = this.now() + this.ms;
    this.pending.add(this);
    return this;
  }

  close(): this {
    this.closed = true;
    this.pending.delete(this);
    return this;
  }
}
