import type { Clock } from '../../core/clock.js';
import type { TokenRecord, TokenStore } from '../../ports/tokens.js';
import type { Sweeper } from './sweeper.js';

function keptUntil(record: TokenRecord): number {
  return Math.max(record.expiresAt, record.keepUntil ?? 0);
}

export class MemoryTokens implements TokenStore {
  private readonly tokens = new Map<string, TokenRecord>();
  /** Used-marker key to until when it holds. */
  private readonly used = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly sweeper: Sweeper,
  ) {
    sweeper.add((now) => {
      for (const [hash, record] of this.tokens)
        if (keptUntil(record) <= now) this.tokens.delete(hash);
      for (const [key, until] of this.used) if (until <= now) this.used.delete(key);
    });
  }

  async putToken(hash: string, record: TokenRecord): Promise<void> {
    this.sweeper.sweep();
    this.tokens.set(hash, { ...record });
  }

  async consumeToken(hash: string): Promise<TokenRecord | null> {
    const record = this.tokens.get(hash);
    if (!record) return null;
    this.tokens.delete(hash);
    return record.expiresAt > this.clock.now() ? record : null;
  }

  async peekToken(hash: string): Promise<TokenRecord | null> {
    const record = this.tokens.get(hash);
    return record && record.expiresAt > this.clock.now() ? { ...record } : null;
  }

  async readToken(hash: string): Promise<TokenRecord | null> {
    const record = this.tokens.get(hash);
    return record && keptUntil(record) > this.clock.now() ? { ...record } : null;
  }

  async isMarkedUsed(key: string): Promise<boolean> {
    const until = this.used.get(key);
    return until !== undefined && until > this.clock.now();
  }

  async markUsed(key: string, expiresAt: number): Promise<boolean> {
    this.sweeper.sweep();
    const until = this.used.get(key);
    if (until !== undefined && until > this.clock.now()) return false;
    this.used.set(key, expiresAt);
    return true;
  }
}
