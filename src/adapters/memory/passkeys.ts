import type { Clock } from '../../core/clock.js';
import type {
  PasskeyChallenge,
  PasskeyChallengeStore,
  PasskeyRecord,
  PasskeyStore,
} from '../../ports/passkeys.js';
import { byCreation } from '../passkey-order.js';
import type { Sweeper } from './sweeper.js';

export class MemoryPasskeys implements PasskeyStore, PasskeyChallengeStore {
  private readonly byId = new Map<string, PasskeyRecord>();
  private readonly userIds = new Map<string, Set<string>>();
  private readonly challenges = new Map<string, PasskeyChallenge>();

  constructor(
    private readonly clock: Clock,
    private readonly sweeper: Sweeper,
  ) {
    sweeper.add((now) => {
      for (const [key, challenge] of this.challenges)
        if (challenge.expiresAt <= now) this.challenges.delete(key);
    });
  }

  async createPasskey(record: PasskeyRecord): Promise<boolean> {
    if (this.byId.has(record.id)) return false;
    this.byId.set(record.id, structuredClone(record));
    let set = this.userIds.get(record.userId);
    if (!set) {
      set = new Set();
      this.userIds.set(record.userId, set);
    }
    set.add(record.id);
    return true;
  }

  async getPasskey(id: string): Promise<PasskeyRecord | null> {
    const record = this.byId.get(id);
    return record ? structuredClone(record) : null;
  }

  async listUserPasskeys(userId: string): Promise<PasskeyRecord[]> {
    const out: PasskeyRecord[] = [];
    for (const id of this.userIds.get(userId) ?? []) {
      const record = this.byId.get(id);
      if (record) out.push(structuredClone(record));
    }
    return out.sort(byCreation);
  }

  async updatePasskeyCounter(
    id: string,
    counter: number,
    backedUp: boolean,
    at: number,
  ): Promise<boolean> {
    const record = this.byId.get(id);
    if (!record) return false;
    if (!(counter > record.counter || (counter === 0 && record.counter === 0))) return false;
    record.counter = counter;
    record.backedUp = backedUp;
    if (record.lastUsedAt === null || at > record.lastUsedAt) record.lastUsedAt = at;
    return true;
  }

  async renamePasskey(id: string, userId: string, name: string): Promise<boolean> {
    const record = this.byId.get(id);
    if (!record || record.userId !== userId) return false;
    record.name = name;
    return true;
  }

  async removePasskey(id: string, userId?: string): Promise<PasskeyRecord | null> {
    const record = this.byId.get(id);
    if (!record || (userId !== undefined && record.userId !== userId)) return null;
    this.byId.delete(id);
    const set = this.userIds.get(record.userId);
    set?.delete(id);
    if (set && set.size === 0) this.userIds.delete(record.userId);
    return record;
  }

  async removeUserPasskeys(userId: string): Promise<PasskeyRecord[]> {
    const removed: PasskeyRecord[] = [];
    for (const id of [...(this.userIds.get(userId) ?? [])]) {
      const record = await this.removePasskey(id, userId);
      if (record) removed.push(record);
    }
    return removed;
  }

  async putPasskeyChallenge(key: string, challenge: PasskeyChallenge): Promise<void> {
    this.sweeper.sweep();
    this.challenges.set(key, { ...challenge });
  }

  async takePasskeyChallenge(key: string): Promise<PasskeyChallenge | null> {
    const challenge = this.challenges.get(key);
    if (!challenge) return null;
    this.challenges.delete(key);
    return challenge.expiresAt > this.clock.now() ? challenge : null;
  }
}
