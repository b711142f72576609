import type { Clock } from '../../core/clock.js';
import type { LinkFloors } from '../../ports/link-floors.js';
import type { Sweeper } from './sweeper.js';

export class MemoryLinkFloors implements LinkFloors {
  /** Per lower-cased address: the floor and until when it is kept (Infinity: until changed). */
  private readonly floors = new Map<string, { floor: number; until: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly sweeper: Sweeper,
  ) {
    sweeper.add((now) => {
      for (const [key, mark] of this.floors) if (mark.until <= now) this.floors.delete(key);
    });
  }

  async nextLinkStamp(email: string, atLeast: number, keepMs: number | null): Promise<number> {
    this.sweeper.sweep();
    const key = email.toLowerCase();
    const now = this.clock.now();
    const stamp = Math.max((this.floors.get(key)?.floor ?? 0) + 1, atLeast);
    this.floors.set(key, { floor: stamp, until: keepMs === null ? Infinity : now + keepMs });
    return stamp;
  }

  /** Past every link issued so far, this millisecond's included (a tie is refused). */
  async voidLinks(email: string): Promise<void> {
    await this.nextLinkStamp(email, this.clock.now() + 1, null);
  }

  async raiseLinkFloor(email: string, stamp: number, keepMs: number): Promise<void> {
    const key = email.toLowerCase();
    const current = this.floors.get(key);
    if (current && current.floor >= stamp) return;
    this.floors.set(key, { floor: stamp, until: this.clock.now() + keepMs });
  }

  async getLinkFloor(email: string): Promise<number> {
    return this.floors.get(email.toLowerCase())?.floor ?? 0;
  }
}
