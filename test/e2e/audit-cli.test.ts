import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { systemClock } from '../../src/core/clock.js';
import { TEST_SECRET, writeConfig } from '../helpers/app.js';
import { runCli } from '../helpers/process.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/** `portcullis login-url` against a shared Redis: the link it hands out is in the user's trail. */
describe('audit trail of the CLI', () => {
  let redis: RedisServer;
  let store: RedisStore;
  const prefix = `audit-cli-${randomBytes(4).toString('hex')}:`;

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
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
  });

  it('records link.issued via cli; stdout stays the link alone and no line names it', async () => {
    const configPath = writeConfig({
      server: { public_url: 'https://auth.example.com' },
      store: { url: redis.url, key_prefix: prefix },
      auth: { secret_key: TEST_SECRET },
      log: { level: 'error' },
    });
    const cli = await runCli(['login-url', 'cli-user@example.com', '--config', configPath]);
    expect(cli.code).toBe(0);
    expect(cli.stderr).toBe('');
    const link = cli.stdout.trim();
    expect(link).toMatch(/^https:\/\/auth\.example\.com\/auth\/magic\?token=[^\s]+$/);
    const user = await store.getUserByEmail('cli-user@example.com');
    const trail = await store.listAudit(user?.id as string, 10);
    expect(trail).toEqual([
      expect.objectContaining({
        event: 'link.issued',
        outcome: 'success',
        actor: 'cli',
        ip: null,
        detail: { via: 'cli' },
      }),
    ]);
    expect(JSON.stringify(trail)).not.toContain(new URL(link).searchParams.get('token') as string);
  });
});
