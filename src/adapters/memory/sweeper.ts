import type { Clock } from '../../core/clock.js';

/**
 * Drops expired entries at most once a minute, on a write. Expiry itself is checked on every
 * read against the injected clock; this only keeps a long-running store from growing.
 */
export class Sweeper {
  private readonly parts: ((now: number) => void)[] = [];
  private sweepAt = 0;

  constructor(private readonly clock: Clock) {}

  /** `part` removes its own entries that expired by `now`. */
  add(part: (now: number) => void): void {
    this.parts.push(part);
  }

  sweep(): void {
    const now = this.clock.now();
    if (now < this.sweepAt) return;
    this.sweepAt = now + 60_000;
    for (const part of this.parts) part(now);
  }
}
