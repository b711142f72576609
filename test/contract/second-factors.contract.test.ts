import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SecondFactorStore } from '../../src/ports/store.js';
import { onRedisCluster, storeKinds, withRawRedis } from '../helpers/store-kinds.js';

/**
 * Second-factor storage, one suite for every store (STYLE §3). "peer" is another instance: the
 * same object for memory, a second RedisStore on the same server and prefix for Redis. The
 * compare-and-set operations are raced from both, many times at once: exactly one may win.
 */
const kinds = storeKinds('secondfactors');

const hashes = (n: number, tag = 'h') =>
  Array.from({ length: n }, (_v, i) => `${tag}${i}`.padEnd(64, '0'));

async function confirmed(store: SecondFactorStore, userId: string, step = 100): Promise<void> {
  expect(await store.setPendingTotp(userId, 'sealed-1')).toBe(true);
  expect(await store.confirmTotp(userId, 'sealed-1', step, 5_000, hashes(3))).toBe(true);
}

describe.each(kinds)('$name second-factor store contract', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(() => kind.closeOpened());

  it('knows nothing of a user with no second factor', async () => {
    const { store } = await kind.open();
    expect(await store.getSecondFactors('nobody')).toBeNull();
    expect(await store.recordTotpStep('nobody', 5)).toBe(false);
    expect(await store.consumeRecoveryCode('nobody', hashes(1)[0] as string)).toBe(false);
    expect(await store.replaceRecoveryCodes('nobody', hashes(2))).toBe(false);
    expect(await store.confirmTotp('nobody', 'sealed', 1, 1, [])).toBe(false);
    await store.removeSecondFactors('nobody');
    expect(await store.getSecondFactors('nobody')).toBeNull();
  });

  it('stores a pending TOTP, readable on another instance', async () => {
    const { store, peer } = await kind.open();
    expect(await store.setPendingTotp('u1', 'sealed-1')).toBe(true);
    expect(await peer.getSecondFactors('u1')).toEqual({
      totp: { secretEnc: 'sealed-1', confirmedAt: null, lastUsedStep: 0 },
      recoveryHashes: [],
    });
    // A restarted enrolment replaces the pending secret.
    expect(await peer.setPendingTotp('u1', 'sealed-2')).toBe(true);
    expect((await store.getSecondFactors('u1'))?.totp?.secretEnc).toBe('sealed-2');
  });

  it('a pending TOTP takes no step and no recovery codes', async () => {
    const { store } = await kind.open();
    await store.setPendingTotp('u1', 'sealed-1');
    expect(await store.recordTotpStep('u1', 10)).toBe(false);
    expect(await store.replaceRecoveryCodes('u1', hashes(2))).toBe(false);
    expect((await store.getSecondFactors('u1'))?.totp?.lastUsedStep).toBe(0);
  });

  it('confirms only the pending secret it was given, once', async () => {
    const { store, peer } = await kind.open();
    await store.setPendingTotp('u1', 'sealed-1');
    await peer.setPendingTotp('u1', 'sealed-2');
    expect(await store.confirmTotp('u1', 'sealed-1', 100, 5_000, hashes(2))).toBe(false);
    expect(await store.confirmTotp('u1', 'sealed-2', 100, 5_000, hashes(2))).toBe(true);
    expect(await peer.confirmTotp('u1', 'sealed-2', 101, 6_000, hashes(2, 'x'))).toBe(false);
    expect(await peer.getSecondFactors('u1')).toEqual({
      totp: { secretEnc: 'sealed-2', confirmedAt: 5_000, lastUsedStep: 100 },
      recoveryHashes: hashes(2).sort(),
    });
  });

  it('refuses a new pending TOTP over a confirmed one', async () => {
    const { store, peer } = await kind.open();
    await confirmed(store, 'u1');
    expect(await peer.setPendingTotp('u1', 'sealed-evil')).toBe(false);
    const record = await store.getSecondFactors('u1');
    expect(record?.totp).toEqual({ secretEnc: 'sealed-1', confirmedAt: 5_000, lastUsedStep: 100 });
    expect(record?.recoveryHashes).toHaveLength(3);
  });

  it('records a step only when it is above the last one (the replay guard)', async () => {
    const { store, peer } = await kind.open();
    await confirmed(store, 'u1', 100);
    expect(await store.recordTotpStep('u1', 100)).toBe(false);
    expect(await store.recordTotpStep('u1', 99)).toBe(false);
    expect(await peer.recordTotpStep('u1', 101)).toBe(true);
    expect(await store.recordTotpStep('u1', 101)).toBe(false);
    expect(await store.recordTotpStep('u1', 103)).toBe(true);
    expect(await peer.recordTotpStep('u1', 102)).toBe(false);
    expect((await peer.getSecondFactors('u1'))?.totp?.lastUsedStep).toBe(103);
  });

  it('of many instances racing for the same step, exactly one wins', async () => {
    const { store, peer } = await kind.open();
    await confirmed(store, 'u1', 100);
    for (let step = 101; step <= 105; step++) {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_v, i) => (i % 2 ? store : peer).recordTotpStep('u1', step)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    }
  });

  it('consumes a recovery code once, on whichever instance asks first', async () => {
    const { store, peer } = await kind.open();
    await confirmed(store, 'u1');
    const [first, second] = hashes(3) as [string, string];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_v, i) =>
        (i % 2 ? store : peer).consumeRecoveryCode('u1', first),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.consumeRecoveryCode('u1', first)).toBe(false);
    expect(await store.consumeRecoveryCode('u2', second)).toBe(false);
    expect(await store.consumeRecoveryCode('u1', 'f'.repeat(64))).toBe(false);
    expect((await peer.getSecondFactors('u1'))?.recoveryHashes).toEqual(hashes(3).slice(1).sort());
  });

  it('replaces all recovery codes at once', async () => {
    const { store, peer } = await kind.open();
    await confirmed(store, 'u1');
    expect(await peer.replaceRecoveryCodes('u1', hashes(4, 'n'))).toBe(true);
    expect((await store.getSecondFactors('u1'))?.recoveryHashes).toEqual(hashes(4, 'n').sort());
    expect(await store.consumeRecoveryCode('u1', hashes(1)[0] as string)).toBe(false);
    expect(await store.consumeRecoveryCode('u1', hashes(1, 'n')[0] as string)).toBe(true);
  });

  it('removes everything; a new enrolment starts clean', async () => {
    const { store, peer } = await kind.open();
    await confirmed(store, 'u1', 500);
    await confirmed(store, 'u2');
    await peer.removeSecondFactors('u1');
    expect(await store.getSecondFactors('u1')).toBeNull();
    expect(await store.consumeRecoveryCode('u1', hashes(1)[0] as string)).toBe(false);
    expect((await store.getSecondFactors('u2'))?.recoveryHashes).toHaveLength(3);
    expect(await store.setPendingTotp('u1', 'sealed-3')).toBe(true);
    expect(await store.getSecondFactors('u1')).toEqual({
      totp: { secretEnc: 'sealed-3', confirmedAt: null, lastUsedStep: 0 },
      recoveryHashes: [],
    });
  });

  it('returns copies: changing a read record changes nothing stored', async () => {
    const { store } = await kind.open();
    await confirmed(store, 'u1');
    const record = await store.getSecondFactors('u1');
    record?.recoveryHashes.splice(0);
    if (record?.totp) record.totp.lastUsedStep = 1e9;
    const again = await store.getSecondFactors('u1');
    expect(again?.recoveryHashes).toHaveLength(3);
    expect(again?.totp?.lastUsedStep).toBe(100);
  });
});

describe('second factors in Redis', () => {
  const [, redisKind] = kinds;
  beforeAll(() => redisKind?.setup());
  afterAll(() => redisKind?.teardown());

  it('keep one key per user, holding only the sealed secret and hashes', async () => {
    if (!redisKind) throw new Error('no redis kind');
    const { store } = await redisKind.open();
    await confirmed(store, 'u1');
    await withRawRedis(redisKind.server(), async (raw) => {
      const keys = (await raw.keys('secondfactors:*')).map((k) => k.replace(/^[^:]+:[^:]+:/, ''));
      expect(keys).toEqual(['sf:u1']);
    });
  });
});

describe('second factors on a Redis Cluster', () => {
  it('race and consume without CROSSSLOT errors', async () => {
    await onRedisCluster('sfcluster', async ({ store, peer }) => {
      for (const user of ['u1', 'u2', 'u3', 'u4', 'u5']) {
        await confirmed(store, user);
        const won = await Promise.all([
          store.recordTotpStep(user, 101),
          peer.recordTotpStep(user, 101),
        ]);
        expect(won.filter(Boolean)).toHaveLength(1);
        expect(await peer.consumeRecoveryCode(user, hashes(1)[0] as string)).toBe(true);
        expect(await peer.replaceRecoveryCodes(user, hashes(2, 'n'))).toBe(true);
        await store.removeSecondFactors(user);
        expect(await peer.getSecondFactors(user)).toBeNull();
      }
    });
  }, 60_000);
});
