import type { Counters } from '../../ports/counters.js';
import type { RedisContext } from './context.js';

/** Keys: `c:<key>` a fixed-window counter hash (`c` the count, `r` when the window resets). */
export class RedisCounters implements Counters {
  constructor(private readonly ctx: RedisContext) {}

  async hit(key: string, windowMs: number): Promise<number> {
    return Number(
      await this.ctx.scripts.psHit(
        this.ctx.key('c', key),
        String(this.ctx.clock.now()),
        String(windowMs),
      ),
    );
  }
}
