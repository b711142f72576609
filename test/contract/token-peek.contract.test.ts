import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TokenRecord } from '../../src/ports/store.js';
import { storeKinds } from '../helpers/store-kinds.js';

/**
 * The non-consuming reads behind "this link expired / was already used": `readToken` and
 * `isMarkedUsed` must leave everything exactly as it was — the record, its single use, its
 * lifetime — on every store. Only `consumeToken` (and `markUsed`) may change anything.
 */
const kinds = storeKinds('token-peek');
const MINUTE = 60_000;

function linkRecord(now: number, keepMs = 0): TokenRecord {
  return {
    email: 'zoe@example.com',
    rd: '/next',
    expiresAt: now + 15 * MINUTE,
    ...(keepMs ? { keepUntil: now + 15 * MINUTE + keepMs } : {}),
    purpose: 'magic_link',
    issuedAt: 1,
  };
}
const newHash = () => randomBytes(32).toString('base64url');

describe.each(kinds)('$name token store: reads that do not consume', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(() => kind.closeOpened());

  it('readToken returns the record and leaves it consumable exactly once', async () => {
    const { store, peer, clock } = await kind.open();
    const hash = newHash();
    const record = linkRecord(clock.now());
    await store.putToken(hash, record);
    for (let i = 0; i < 5; i += 1) expect(await peer.readToken(hash)).toEqual(record);
    expect(await store.consumeToken(hash)).toEqual(record);
    expect(await peer.consumeToken(hash)).toBeNull();
    expect(await store.readToken(hash)).toBeNull();
  });

  it('readToken shows an expired record while it is kept; consume and peek treat it as gone', async () => {
    const { store, clock } = await kind.open();
    const hash = newHash();
    const record = linkRecord(clock.now(), 60 * MINUTE);
    await store.putToken(hash, record);
    clock.advance(15 * MINUTE);
    expect(await store.readToken(hash)).toEqual(record);
    expect(await store.peekToken(hash)).toBeNull();
    clock.advance(60 * MINUTE - 1);
    expect(await store.readToken(hash)).toEqual(record);
    clock.advance(1);
    expect(await store.readToken(hash)).toBeNull();
  });

  it('without keepUntil a record is gone for readToken at its expiry', async () => {
    const { store, clock } = await kind.open();
    const hash = newHash();
    await store.putToken(hash, linkRecord(clock.now()));
    clock.advance(15 * MINUTE - 1);
    expect(await store.readToken(hash)).not.toBeNull();
    clock.advance(1);
    expect(await store.readToken(hash)).toBeNull();
    expect(await store.consumeToken(hash)).toBeNull();
  });

  it('readToken of an unknown hash is null and creates nothing', async () => {
    const { store, clock } = await kind.open();
    const hash = newHash();
    expect(await store.readToken(hash)).toBeNull();
    await store.putToken(hash, linkRecord(clock.now()));
    expect(await store.consumeToken(hash)).not.toBeNull();
  });

  it('isMarkedUsed reads a mark without making one, and sees it expire', async () => {
    const { store, peer, clock } = await kind.open();
    const key = `link:${newHash()}`;
    expect(await store.isMarkedUsed(key)).toBe(false);
    expect(await peer.isMarkedUsed(key)).toBe(false);
    // The read did not mark it: the first markUsed still wins.
    expect(await store.markUsed(key, clock.now() + 30_000)).toBe(true);
    expect(await peer.isMarkedUsed(key)).toBe(true);
    expect(await store.isMarkedUsed(key)).toBe(true);
    expect(await peer.markUsed(key, clock.now() + 30_000)).toBe(false);
    clock.advance(30_000);
    expect(await store.isMarkedUsed(key)).toBe(false);
  });

  it.runIf(kind.name === 'redis')(
    'readToken and isMarkedUsed leave the keys and their TTLs untouched (real Redis)',
    async () => {
      const { store, clock } = await kind.open();
      const server = kind.server();
      if (!server) throw new Error('no redis-server');
      const raw = new Redis(server.url);
      try {
        const hash = newHash();
        await store.putToken(hash, linkRecord(clock.now(), 60 * MINUTE));
        const usedKey = `link:${newHash()}`;
        await store.markUsed(usedKey, clock.now() + 10 * MINUTE);
        const [tokenKey] = await raw.keys(`*t:${hash}`);
        const [markKey] = await raw.keys(`*used:${usedKey}`);
        if (!tokenKey || !markKey) throw new Error('keys not found');
        const before = {
          token: await raw.get(tokenKey),
          mark: await raw.get(markKey),
          tokenTtl: await raw.pttl(tokenKey),
          markTtl: await raw.pttl(markKey),
        };
        // Kept past expiry: 75 minutes in all, not the 15 of expiresAt.
        expect(before.tokenTtl).toBeGreaterThan(70 * MINUTE);
        await new Promise((resolve) => setTimeout(resolve, 50));
        for (let i = 0; i < 10; i += 1) {
          await store.readToken(hash);
          await store.isMarkedUsed(usedKey);
        }
        expect(await raw.get(tokenKey)).toBe(before.token);
        expect(await raw.get(markKey)).toBe(before.mark);
        // Never extended: a read that refreshed the TTL would put it back up.
        expect(await raw.pttl(tokenKey)).toBeLessThanOrEqual(before.tokenTtl - 40);
        expect(await raw.pttl(markKey)).toBeLessThanOrEqual(before.markTtl - 40);
      } finally {
        raw.disconnect();
      }
    },
  );
});
