import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { hashAppToken } from '../../src/core/app-token.js';
import { systemClock } from '../../src/core/clock.js';
import { AppTokenService } from '../../src/services/app-tokens.js';
import { TEST_SECRET, writeConfig } from '../helpers/app.js';
import { freePort } from '../helpers/ports.js';
import { runCli } from '../helpers/process.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/**
 * `portcullis token create|list|revoke` (SPEC §1) run as the real binary against a real Redis;
 * what it writes is read back through the store and the service a server would use.
 */
describe('portcullis token', () => {
  let redis: RedisServer;
  let store: RedisStore;
  let service: AppTokenService;
  let configPath: string;
  const prefix = `token-cli-${randomBytes(4).toString('hex')}:`;
  const target = { host: 'khoj.example.com', path: '/api/chat', method: 'GET' };

  beforeAll(async () => {
    redis = await startRedis();
    store = new RedisStore({
      url: redis.url,
      sentinel: null,
      cluster: null,
      keyPrefix: prefix,
      clock: systemClock,
    });
    await store.waitUntilReady(10_000);
    service = new AppTokenService(store, store, systemClock, { maxLifetimeMs: 365 * 86_400_000 });
    await store.createUser({
      id: 'u-zoe',
      email: 'zoe@example.com',
      name: 'Zoe',
      groups: [],
      active: true,
      verified: true,
      createdAt: Date.now(),
      lastLoginAt: null,
    });
    configPath = writeConfig({
      server: { public_url: 'https://auth.example.com' },
      store: { url: redis.url, key_prefix: prefix },
      auth: { secret_key: TEST_SECRET },
      tokens: { max_lifetime: '180d' },
      log: { level: 'error' },
    });
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
  });

  const cli = (...args: string[]) => runCli(['token', '--config', configPath, ...args]);

  it('create prints the token alone on stdout; the store keeps only its hash; a server accepts it', async () => {
    const started = Date.now();
    const result = await cli(
      'create',
      'Zoe@Example.com',
      '--name',
      'obsidian laptop',
      '--expires',
      '90d',
    );
    expect(result.stderr).toMatch(
      /^token [0-9a-f]{16} "obsidian laptop" for zoe@example\.com, expires .* not shown again\n$/,
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^pcx_[A-Za-z0-9_-]{43}\n$/);
    const token = result.stdout.trim();
    const record = await store.findAppTokenByHash(hashAppToken(token));
    expect(record).toMatchObject({
      userId: 'u-zoe',
      name: 'obsidian laptop',
      scope: null,
      revokedAt: null,
    });
    expect(record?.expiresAt).toBeGreaterThanOrEqual(started + 90 * 86_400_000);
    expect(record?.expiresAt).toBeLessThanOrEqual(Date.now() + 90 * 86_400_000);
    expect(JSON.stringify(record)).not.toContain(token.slice(4));
    expect(await service.verify(token, target)).toMatchObject({
      ok: true,
      user: { email: 'zoe@example.com' },
    });
  });

  it('create without --expires gives tokens.max_lifetime', async () => {
    const result = await cli('create', 'zoe@example.com', '--name', 'script');
    expect(result.code).toBe(0);
    const record = await store.findAppTokenByHash(hashAppToken(result.stdout.trim()));
    expect((record?.expiresAt ?? 0) - (record?.createdAt ?? 0)).toBe(180 * 86_400_000);
  });

  it('list shows id, name, dates; never a secret or a hash', async () => {
    const made = await cli('create', 'zoe@example.com', '--name', 'emacs', '--expires', '30d');
    const token = made.stdout.trim();
    const result = await cli('list', 'zoe@example.com');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+CREATED\s+LAST USED\s+EXPIRES$/);
    const emacs = lines.find((line) => line.includes('emacs'));
    const record = await store.findAppTokenByHash(hashAppToken(token));
    expect(emacs).toMatch(
      new RegExp(`^${record?.id}\\s+emacs\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\dZ\\s+-\\s+\\d{4}-`),
    );
    expect(result.stdout).not.toContain('pcx_');
    expect(result.stdout).not.toContain(token.slice(4, 20));
    expect(result.stdout).not.toContain(record?.hash as string);
  });

  it('revoke ends the token (a server refuses it), and a second revoke fails', async () => {
    const token = (await cli('create', 'zoe@example.com', '--name', 'to-revoke')).stdout.trim();
    const record = await store.findAppTokenByHash(hashAppToken(token));
    const id = record?.id as string;
    const result = await cli('revoke', id);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`revoked ${id} "to-revoke" of zoe@example.com\n`);
    expect(await service.verify(token, target)).toEqual({ ok: false, reason: 'revoked' });
    expect((await cli('list', 'zoe@example.com')).stdout).not.toContain(id);
    const again = await cli('revoke', id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no live token with id ${id}`);
  });

  it.each([
    [
      'an unknown email',
      ['create', 'nobody@example.com', '--name', 'x'],
      1,
      /no user with email nobody@example\.com/,
    ],
    ['an unknown email (list)', ['list', 'nobody@example.com'], 1, /no user with email/],
    ['an unknown id', ['revoke', '0123456789abcdef'], 1, /no live token/],
    ['no verb', [], 2, /expected create, list or revoke/],
    ['an unknown verb', ['rotate', 'zoe@example.com'], 2, /expected create, list or revoke/],
    ['no email', ['create'], 2, /needs an email address/],
    ['no id', ['revoke'], 2, /needs a token ID/],
    ['not an email', ['create', 'zoe', '--name', 'x'], 2, /not an email address/],
    ['no --name', ['create', 'zoe@example.com'], 2, /--name/],
    ['an empty --name', ['create', 'zoe@example.com', '--name', '  '], 2, /name/],
    [
      'a bad duration',
      ['create', 'zoe@example.com', '--name', 'x', '--expires', '90x'],
      2,
      /not a duration/,
    ],
    [
      'a negative duration',
      ['create', 'zoe@example.com', '--name', 'x', '--expires=-1d'],
      2,
      /not a duration/,
    ],
    [
      'a duration past tokens.max_lifetime',
      ['create', 'zoe@example.com', '--name', 'x', '--expires', '181d'],
      2,
      /past tokens\.max_lifetime/,
    ],
    ['an id that is not one', ['revoke', '--', '-rf'], 2, /not a token id/],
  ])('refuses %s', async (_why, args, code, message) => {
    const result = await cli(...args);
    expect(result.code).toBe(code);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
  });

  it('refuses to make tokens when tokens.enabled is false', async () => {
    const off = writeConfig({
      server: { public_url: 'https://auth.example.com' },
      store: { url: redis.url, key_prefix: prefix },
      auth: { secret_key: TEST_SECRET },
      tokens: { enabled: false },
    });
    const result = await runCli([
      'token',
      'create',
      'zoe@example.com',
      '--name',
      'x',
      '--config',
      off,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('tokens.enabled');
  });

  it('says why it cannot work with the memory store', async () => {
    const memory = writeConfig({
      server: { public_url: 'https://auth.example.com' },
      store: { url: 'memory://' },
    });
    for (const args of [
      ['create', 'zoe@example.com', '--name', 'x'],
      ['list', 'zoe@example.com'],
      ['revoke', '0123456789abcdef'],
    ]) {
      const result = await runCli(['token', ...args, '--config', memory]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/memory:\/\/.*running server could never accept it/s);
      expect(result.stderr).toMatch(/store\.url|REDIS_URL/);
    }
  });

  it('fails with exit 1 when Redis is unreachable', async () => {
    const port = await freePort();
    const down = writeConfig({
      server: { public_url: 'https://auth.example.com' },
      store: { url: `redis://127.0.0.1:${port}` },
      auth: { secret_key: TEST_SECRET },
    });
    const result = await runCli(['token', 'list', 'zoe@example.com', '--config', down]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('the store is unreachable');
  }, 20_000);
});
