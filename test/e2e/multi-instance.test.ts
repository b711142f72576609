import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { systemClock } from '../../src/core/clock.js';
import { writeConfig } from '../helpers/app.js';
import {
  type PortcullisProcess,
  postForm,
  redeemLoginLink,
  runCli,
  startPortcullis,
} from '../helpers/process.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/**
 * SPEC §4: two portcullis processes sharing one Redis. A session made on one is honoured by the
 * other, and ending it (logout everywhere, deactivation) is honoured everywhere within 1 s —
 * although each instance answers warm checks from its own local cache.
 */
const SECRET = 'b'.repeat(64);
const TARGET = 'http://app.example.test/dashboard';
const REVOKED_WITHIN_MS = 500;

function sharedConfig(redisUrl: string, prefix: string): Record<string, unknown> {
  return {
    auth: { secret_key: SECRET, enabled_auth: ['magic_link'], magic_link: { mailer: 'log' } },
    store: { url: redisUrl, key_prefix: prefix },
  };
}

function check(instance: PortcullisProcess, cookie: string): Promise<Response> {
  return fetch(`${instance.url}/auth/nginx`, {
    headers: { cookie: `portcullis_session=${cookie}`, 'x-original-url': TARGET },
  });
}

/**
 * Polls `instance` until it refuses `cookie`; returns the ms it took. SPEC allows 1 s; the
 * revocation message arrives in milliseconds (measured: 3–15 ms), while the 1 s local cache
 * alone would take up to 1000 ms, so the tests ask for well under it (REVOKED_WITHIN_MS) to show
 * the message, not cache expiry, ended the session.
 */
async function msUntilRefused(instance: PortcullisProcess, cookie: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    const response = await check(instance, cookie);
    const elapsed = performance.now() - started;
    if (response.status === 401) return elapsed;
    expect(response.status).toBe(200);
    if (elapsed > 5000) throw new Error('still allowed after 5 s');
  }
}

describe('two portcullis processes on one Redis', () => {
  let redis: RedisServer;
  let a: PortcullisProcess;
  let b: PortcullisProcess;
  let prefix: string;

  beforeAll(async () => {
    redis = await startRedis();
    prefix = `multi:${randomBytes(4).toString('hex')}:`;
    [a, b] = await Promise.all([
      startPortcullis(sharedConfig(redis.url, prefix)),
      startPortcullis(sharedConfig(redis.url, prefix)),
    ]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  /** `portcullis login-url` against the shared store, redeemed on instance A. */
  async function loginOnA(email: string): Promise<string> {
    const configPath = writeConfig({
      ...sharedConfig(redis.url, prefix),
      server: { public_url: a.url },
      log: { level: 'error' },
    });
    const cli = await runCli(['login-url', email, '--config', configPath]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const link = cli.stdout.trim();
    expect(link.startsWith(`${a.url}/auth/magic?token=`)).toBe(true);
    return redeemLoginLink(a.url, link);
  }

  it('honours on B a session created on A, and ends it on B within 1 s of logout everywhere on A', async () => {
    const cookie = await loginOnA('alice@example.com');
    const other = await loginOnA('alice@example.com');

    const onB = await check(b, cookie);
    expect(onB.status).toBe(200);
    expect(onB.headers.get('remote-email')).toBe('alice@example.com');
    const me = await fetch(`${b.url}/auth/me`, {
      headers: { cookie: `portcullis_session=${cookie}`, accept: 'application/json' },
    });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ email: 'alice@example.com' });
    // Both sessions are now warm in B's local cache: only a revocation message can drop them early.
    expect((await check(b, other)).status).toBe(200);
    expect((await check(b, cookie)).status).toBe(200);

    const logout = await postForm(
      `${a.url}/auth/logout?everywhere=1`,
      {},
      { portcullis_session: cookie },
    );
    expect(logout.status).toBe(303);

    const elapsed = await msUntilRefused(b, other);
    expect(elapsed).toBeLessThan(REVOKED_WITHIN_MS);
    expect((await check(b, cookie)).status).toBe(401);
    expect((await check(a, cookie)).status).toBe(401);
    expect((await check(a, other)).status).toBe(401);
    // The refusal is a login prompt nginx can follow, not an error.
    expect((await check(b, cookie)).headers.get('location')).toContain('/auth/login?rd=');
  });

  it('ends every session of a deactivated user on both instances within 1 s', async () => {
    const first = await loginOnA('bob@example.com');
    const second = await loginOnA('bob@example.com');
    for (const instance of [a, b]) {
      for (const cookie of [first, second])
        expect((await check(instance, cookie)).status).toBe(200);
    }

    // What the admin panel and SCIM do to deactivate, from a third client of the same store.
    const admin = new RedisStore({
      url: redis.url,
      sentinel: null,
      cluster: null,
      keyPrefix: prefix,
      clock: systemClock,
    });
    try {
      await admin.waitUntilReady(10_000);
      const user = await admin.getUserByEmail('bob@example.com');
      expect(user?.active).toBe(true);
      if (!user) return;
      await admin.updateUser({ ...user, active: false });
      expect(await admin.deleteUserSessions(user.id)).toHaveLength(2);
    } finally {
      await admin.close();
    }

    const elapsed = await Promise.all([msUntilRefused(a, first), msUntilRefused(b, second)]);
    for (const ms of elapsed) expect(ms).toBeLessThan(REVOKED_WITHIN_MS);
    expect((await check(b, first)).status).toBe(401);
    expect((await check(a, second)).status).toBe(401);

    // A fresh link does not bring a deactivated user back in.
    const configPath = writeConfig({
      ...sharedConfig(redis.url, prefix),
      server: { public_url: a.url },
      log: { level: 'error' },
    });
    const cli = await runCli(['login-url', 'bob@example.com', '--config', configPath]);
    expect(cli.code).toBe(0);
    const token = new URL(cli.stdout.trim()).searchParams.get('token') ?? '';
    const redeemed = await postForm(`${b.url}/auth/magic`, { token });
    expect(redeemed.status).toBe(303);
    expect(redeemed.headers.get('location')).toContain('error=not_allowed');
    expect(redeemed.headers.get('set-cookie') ?? '').not.toContain('portcullis_session=');
  });

  it('both instances report ready', async () => {
    for (const instance of [a, b]) {
      expect((await fetch(`${instance.url}/auth/readyz`)).status).toBe(200);
    }
    expect(a.output()).toContain('portcullis listening');
  });
});
