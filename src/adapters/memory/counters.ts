import type { Clock } from '../../core/clock.js';
import type { Counters } from '../../ports/counters.js';
import type { Sweeper } from './sweeper.js';

export class MemoryCounters implements Counters {
  private readonly counters = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly sweeper: Sweeper,
  ) {
    sweeper.add((now) => {
      for (const [key, counter] of this.counters)
        if (counter.resetAt <= now) this.counters.delete(key);
    });
  }

  async hit(key: string, windowMs: number): Promise<number> {
    this.sweeper.sweep();
    const now = this.clock.now();
    const counter = this.counters.get(key);
    if (!counter || counter.resetAt <= now) {
      this.counters.set(key, { count: 1, resetAt: now + windowMs });
      return 1;
    }
    counter.count += 1;
    return counter.count;
  }
}
