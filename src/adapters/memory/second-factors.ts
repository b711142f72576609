import type { SecondFactorRecord, SecondFactorStore } from '../../ports/second-factors.js';

/** One record per user; each method runs to completion before another starts (one event loop). */
export class MemorySecondFactors implements SecondFactorStore {
  private readonly records = new Map<string, SecondFactorRecord>();

  async getSecondFactors(userId: string): Promise<SecondFactorRecord | null> {
    const record = this.records.get(userId);
    return record ? structuredClone(record) : null;
  }

  async setPendingTotp(userId: string, secretEnc: string): Promise<boolean> {
    if (this.records.get(userId)?.totp?.confirmedAt != null) return false;
    this.records.set(userId, {
      totp: { secretEnc, confirmedAt: null, lastUsedStep: 0 },
      recoveryHashes: [],
    });
    return true;
  }

  async confirmTotp(
    userId: string,
    secretEnc: string,
    step: number,
    confirmedAt: number,
    recoveryHashes: readonly string[],
  ): Promise<boolean> {
    const record = this.records.get(userId);
    const totp = record?.totp;
    if (!record || !totp || totp.confirmedAt !== null || totp.secretEnc !== secretEnc) return false;
    record.totp = { secretEnc, confirmedAt, lastUsedStep: step };
    record.recoveryHashes = [...new Set(recoveryHashes)].sort();
    return true;
  }

  async recordTotpStep(userId: string, step: number): Promise<boolean> {
    const totp = this.records.get(userId)?.totp;
    if (!totp || totp.confirmedAt === null || step <= totp.lastUsedStep) return false;
    totp.lastUsedStep = step;
    return true;
  }

  async consumeRecoveryCode(userId: string, hash: string): Promise<boolean> {
    const record = this.records.get(userId);
    const index = record ? record.recoveryHashes.indexOf(hash) : -1;
    if (!record || index < 0) return false;
    record.recoveryHashes.splice(index, 1);
    return true;
  }

  async replaceRecoveryCodes(userId: string, recoveryHashes: readonly string[]): Promise<boolean> {
    const record = this.records.get(userId);
    if (!record || record.totp?.confirmedAt == null) return false;
    record.recoveryHashes = [...new Set(recoveryHashes)].sort();
    return true;
  }

  async removeSecondFactors(userId: string): Promise<void> {
    this.records.delete(userId);
  }
}
