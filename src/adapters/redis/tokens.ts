import type { TokenRecord, TokenStore } from '../../ports/tokens.js';
import type { RedisContext } from './context.js';

/** Keys: `t:<hash>` a one-time token's record, `used:<key>` a used-marker (until its expiry). */
export class RedisTokens implements TokenStore {
  constructor(private readonly ctx: RedisContext) {}

  async putToken(hash: string, record: TokenRecord): Promise<void> {
    await this.ctx.client.set(
      this.ctx.key('t', hash),
      JSON.stringify(record),
      'PX',
      // Kept past its expiry when the record asks (a late click is told "expired").
      this.ctx.ttl(Math.max(record.expiresAt, record.keepUntil ?? 0)),
    );
  }

  async consumeToken(hash: string): Promise<TokenRecord | null> {
    // GETDEL is one atomic step: two instances racing on one link cannot both win.
    const data = await this.ctx.client.getdel(this.ctx.key('t', hash));
    if (!data) return null;
    const record = JSON.parse(data) as TokenRecord;
    return record.expiresAt > this.ctx.clock.now() ? record : null;
  }

  async peekToken(hash: string): Promise<TokenRecord | null> {
    const data = await this.ctx.client.get(this.ctx.key('t', hash));
    if (!data) return null;
    const record = JSON.parse(data) as TokenRecord;
    return record.expiresAt > this.ctx.clock.now() ? record : null;
  }

  async readToken(hash: string): Promise<TokenRecord | null> {
    // GET leaves the key and its TTL untouched (unlike GETEX or a re-SET).
    const data = await this.ctx.client.get(this.ctx.key('t', hash));
    if (!data) return null;
    const record = JSON.parse(data) as TokenRecord;
    // The key's own TTL runs on Redis' clock; the injected one decides, as everywhere.
    return Math.max(record.expiresAt, record.keepUntil ?? 0) > this.ctx.clock.now() ? record : null;
  }

  async isMarkedUsed(key: string): Promise<boolean> {
    const until = await this.ctx.client.get(this.ctx.key('used', key));
    return until !== null && Number(until) > this.ctx.clock.now();
  }

  async markUsed(key: string, expiresAt: number): Promise<boolean> {
    const first = await this.ctx.scripts.psMarkUsed(
      this.ctx.key('used', key),
      String(this.ctx.clock.now()),
      String(expiresAt),
      this.ctx.ttl(expiresAt),
    );
    return Number(first) === 1;
  }
}
