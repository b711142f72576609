import type { SecondFactorRecord, SecondFactorStore } from '../../ports/second-factors.js';
import type { RedisContext } from './context.js';

/*
 * One hash per user, `sf:<userId>`: `secret` (sealed), `confirmedAt` ('' while pending), `step`
 * (the last accepted TOTP step), and one `r:<hash>` field per unused recovery code. Every script
 * touches only that key, so the store also runs on Redis Cluster, and each is one atomic step:
 * two instances checking the same code race inside Redis, and exactly one wins.
 */
const SECOND_FACTOR_SCRIPTS = {
  // ARGV sealed secret. Refuses (0) while a confirmed TOTP exists; otherwise starts afresh.
  sfPending: {
    numberOfKeys: 1,
    lua: `local confirmed = redis.call('HGET', KEYS[1], 'confirmedAt')
if confirmed and confirmed ~= '' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'confirmedAt', '', 'step', '0')
return 1`,
  },
  // ARGV sealed secret, step, confirmedAt, recovery hashes... Only the pending TOTP with this secret.
  sfConfirm: {
    numberOfKeys: 1,
    lua: `if redis.call('HGET', KEYS[1], 'secret') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'confirmedAt') ~= '' then return 0 end
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 'r:' then redis.call('HDEL', KEYS[1], field) end
end
redis.call('HSET', KEYS[1], 'confirmedAt', ARGV[3], 'step', ARGV[2])
for i = 4, #ARGV do redis.call('HSET', KEYS[1], 'r:' .. ARGV[i], '1') end
return 1`,
  },
  // ARGV step. The replay guard: 1 only when confirmed and step > the stored step.
  sfStep: {
    numberOfKeys: 1,
    lua: `local confirmed = redis.call('HGET', KEYS[1], 'confirmedAt')
if not confirmed or confirmed == '' then return 0 end
if tonumber(ARGV[1]) <= tonumber(redis.call('HGET', KEYS[1], 'step') or '0') then return 0 end
redis.call('HSET', KEYS[1], 'step', ARGV[1])
return 1`,
  },
  // ARGV recovery hashes... Only with a confirmed TOTP.
  sfRecovery: {
    numberOfKeys: 1,
    lua: `local confirmed = redis.call('HGET', KEYS[1], 'confirmedAt')
if not confirmed or confirmed == '' then return 0 end
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 'r:' then redis.call('HDEL', KEYS[1], field) end
end
for i = 1, #ARGV do redis.call('HSET', KEYS[1], 'r:' .. ARGV[i], '1') end
return 1`,
  },
} as const;

type SecondFactorScripted = Record<
  keyof typeof SECOND_FACTOR_SCRIPTS,
  (key: string, ...args: string[]) => Promise<unknown>
>;

export class RedisSecondFactors implements SecondFactorStore {
  private readonly scripts: SecondFactorScripted;

  constructor(private readonly ctx: RedisContext) {
    for (const [name, definition] of Object.entries(SECOND_FACTOR_SCRIPTS))
      ctx.client.defineCommand(name, definition);
    this.scripts = ctx.client as unknown as SecondFactorScripted;
  }

  private key(userId: string): string {
    return this.ctx.key('sf', userId);
  }

  async getSecondFactors(userId: string): Promise<SecondFactorRecord | null> {
    const fields = await this.ctx.client.hgetall(this.key(userId));
    if (Object.keys(fields).length === 0) return null;
    const recoveryHashes = Object.keys(fields)
      .filter((field) => field.startsWith('r:'))
      .map((field) => field.slice(2))
      .sort();
    const secretEnc = fields.secret;
    const totp = secretEnc
      ? {
          secretEnc,
          confirmedAt: fields.confirmedAt ? Number(fields.confirmedAt) : null,
          lastUsedStep: Number(fields.step ?? '0'),
        }
      : null;
    return { totp, recoveryHashes };
  }

  async setPendingTotp(userId: string, secretEnc: string): Promise<boolean> {
    return Number(await this.scripts.sfPending(this.key(userId), secretEnc)) === 1;
  }

  async confirmTotp(
    userId: string,
    secretEnc: string,
    step: number,
    confirmedAt: number,
    recoveryHashes: readonly string[],
  ): Promise<boolean> {
    const result = await this.scripts.sfConfirm(
      this.key(userId),
      secretEnc,
      String(step),
      String(confirmedAt),
      ...recoveryHashes,
    );
    return Number(result) === 1;
  }

  async recordTotpStep(userId: string, step: number): Promise<boolean> {
    return Number(await this.scripts.sfStep(this.key(userId), String(step))) === 1;
  }

  async consumeRecoveryCode(userId: string, hash: string): Promise<boolean> {
    // HDEL is atomic on its own: of two callers, only one sees 1.
    return (await this.ctx.client.hdel(this.key(userId), `r:${hash}`)) === 1;
  }

  async replaceRecoveryCodes(userId: string, recoveryHashes: readonly string[]): Promise<boolean> {
    return Number(await this.scripts.sfRecovery(this.key(userId), ...recoveryHashes)) === 1;
  }

  async removeSecondFactors(userId: string): Promise<void> {
    await this.ctx.client.del(this.key(userId));
  }
}
