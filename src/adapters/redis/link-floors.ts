import type { LinkFloors } from '../../ports/link-floors.js';
import type { RedisContext } from './context.js';

/** Keys: `lf:<lower-cased email>` an address's link floor, as a decimal string. */
export class RedisLinkFloors implements LinkFloors {
  constructor(private readonly ctx: RedisContext) {}

  private floorKey(email: string): string {
    return this.ctx.key('lf', email.toLowerCase());
  }

  async nextLinkStamp(email: string, atLeast: number, keepMs: number | null): Promise<number> {
    const stamp = await this.ctx.scripts.psLinkFloor(
      this.floorKey(email),
      'next',
      String(atLeast),
      keepMs === null ? '' : String(Math.max(1, keepMs)),
    );
    return Number(stamp);
  }

  /** Past every link issued so far, this millisecond's included (a tie is refused). */
  async voidLinks(email: string): Promise<void> {
    await this.nextLinkStamp(email, this.ctx.clock.now() + 1, null);
  }

  async raiseLinkFloor(email: string, stamp: number, keepMs: number): Promise<void> {
    await this.ctx.scripts.psLinkFloor(
      this.floorKey(email),
      'raise',
      String(stamp),
      String(Math.max(1, keepMs)),
    );
  }

  async getLinkFloor(email: string): Promise<number> {
    return Number((await this.ctx.client.get(this.floorKey(email))) ?? 0);
  }
}
