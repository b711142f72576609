import type { Clock } from '../../core/clock.js';
import {
  APP_TOKEN_KEEP_MS,
  type AppTokenRecord,
  type AppTokenStore,
} from '../../ports/app-tokens.js';
import type { Sweeper } from './sweeper.js';

/** When a record may be dropped: APP_TOKEN_KEEP_MS after it expired or was revoked; never otherwise. */
function dropAt(record: AppTokenRecord): number {
  const ends = [record.expiresAt, record.revokedAt].filter((t): t is number => t !== null);
  return ends.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...ends) + APP_TOKEN_KEEP_MS;
}

export class MemoryAppTokens implements AppTokenStore {
  private readonly byHash = new Map<string, AppTokenRecord>();
  private readonly hashById = new Map<string, string>();
  private readonly userHashes = new Map<string, Set<string>>();

  constructor(
    private readonly clock: Clock,
    private readonly sweeper: Sweeper,
  ) {
    sweeper.add((now) => {
      for (const [hash, record] of this.byHash) if (dropAt(record) <= now) this.remove(hash);
    });
  }

  private remove(hash: string): void {
    const record = this.byHash.get(hash);
    if (!record) return;
    this.byHash.delete(hash);
    this.hashById.delete(record.id);
    const set = this.userHashes.get(record.userId);
    set?.delete(hash);
    if (set && set.size === 0) this.userHashes.delete(record.userId);
  }

  /** The live record for `hash` (dropped when past its keep time), not a copy. */
  private current(hash: string | undefined): AppTokenRecord | null {
    if (hash === undefined) return null;
    const record = this.byHash.get(hash);
    if (!record) return null;
    if (dropAt(record) <= this.clock.now()) {
      this.remove(hash);
      return null;
    }
    return record;
  }

  async createAppToken(record: AppTokenRecord): Promise<void> {
    this.sweeper.sweep();
    this.byHash.set(record.hash, structuredClone(record));
    this.hashById.set(record.id, record.hash);
    let set = this.userHashes.get(record.userId);
    if (!set) {
      set = new Set();
      this.userHashes.set(record.userId, set);
    }
    set.add(record.hash);
  }

  async findAppTokenByHash(hash: string): Promise<AppTokenRecord | null> {
    const record = this.current(hash);
    return record ? structuredClone(record) : null;
  }

  async getAppToken(id: string): Promise<AppTokenRecord | null> {
    const record = this.current(this.hashById.get(id));
    return record ? structuredClone(record) : null;
  }

  async listUserAppTokens(userId: string): Promise<AppTokenRecord[]> {
    const out: AppTokenRecord[] = [];
    for (const hash of [...(this.userHashes.get(userId) ?? [])]) {
      const record = this.current(hash);
      if (record && record.revokedAt === null) out.push(structuredClone(record));
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  }

  async revokeAppToken(id: string, at: number): Promise<AppTokenRecord | null> {
    const record = this.current(this.hashById.get(id));
    if (!record || record.revokedAt !== null) return null;
    const before = structuredClone(record);
    record.revokedAt = at;
    return before;
  }

  async revokeUserAppTokens(userId: string, at: number): Promise<AppTokenRecord[]> {
    const out: AppTokenRecord[] = [];
    for (const record of await this.listUserAppTokens(userId)) {
      const revoked = await this.revokeAppToken(record.id, at);
      if (revoked) out.push(revoked);
    }
    return out;
  }

  async touchAppToken(id: string, at: number): Promise<void> {
    const record = this.current(this.hashById.get(id));
    if (record && (record.lastUsedAt === null || at > record.lastUsedAt)) record.lastUsedAt = at;
  }
}
