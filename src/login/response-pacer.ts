import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Makes "we sent you a link" take as long when nothing was sent (unknown or refused address) as
 * when a mail really went out, so response time does not tell who has an account. It pads every
 * answer up to the 90th percentile of recent real sends. Elapsed time is measured with the
 * monotonic clock, not the injected one: this is about wall time an observer sees.
 */
export class ResponsePacer {
  private readonly samples: number[] = [];

  constructor(
    private readonly minMs = 200,
    private readonly maxMs = 3000,
    private readonly size = 32,
  ) {}

  /** Starts timing one answer. */
  start(): number {
    return performance.now();
  }

  /** Records how long a real send took (from `start()`). */
  record(startedAt: number): void {
    this.samples.push(performance.now() - startedAt);
    if (this.samples.length > this.size) this.samples.shift();
  }

  floorMs(): number {
    if (this.samples.length === 0) return this.minMs;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const p90 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))] as number;
    return Math.min(this.maxMs, Math.max(this.minMs, p90));
  }

  /** Waits until the answer started at `startedAt` has taken at least the current floor. */
  async pad(startedAt: number): Promise<void> {
    const wait = this.floorMs() - (performance.now() - startedAt);
    if (wait > 0) await sleep(Math.ceil(wait));
  }
}
