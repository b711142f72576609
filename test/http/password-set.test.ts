import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/core/password.js';
import type { User } from '../../src/ports/store.js';
import { MIN_PASSWORD_LENGTH, setUserPassword } from '../../src/services/passwords.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { basicSignIn } from '../helpers/password.js';

/** Setting and removing a stored password (what the admin panel's action calls), seen through POST /auth/basic. */
const CSRF = 's'.repeat(43);
let app: TestApp;
let user: User;
const STATIC = [{ email: 'Config@Example.com', password_hash: '' }];

beforeAll(async () => {
  STATIC[0] = { email: 'Config@Example.com', password_hash: await hashPassword('from the config') };
  app = await startTestApp({ auth: { enabled_auth: ['basic'], basic: { users: STATIC } } });
  user = await app.ctx.store.createUser({
    id: 'u-set',
    email: 'set@example.com',
    name: 'Set',
    groups: [],
    active: true,
    verified: false,
    createdAt: Date.now(),
    lastLoginAt: null,
  });
});

afterAll(async () => {
  await app?.close();
});

const signIn = basicSignIn(() => app.url, CSRF, '10.1.1');

describe('setting a password', () => {
  it('lets the user sign in with the new password and not with the old one', async () => {
    expect(await signIn('set@example.com', 'first password')).toBe(401);
    const first = await setUserPassword(app.ctx.store, STATIC, user, 'first password');
    expect(first.ok).toBe(true);
    const stored = await app.ctx.store.getUser(user.id);
    expect(stored?.passwordHash).toMatch(/^\$scrypt\$N=32768,r=8,p=1\$/);
    expect(stored?.passwordHash).not.toContain('first password');
    expect(await signIn('set@example.com', 'first password')).toBe(303);

    const reset = await setUserPassword(app.ctx.store, STATIC, stored as User, 'second password');
    expect(reset.ok).toBe(true);
    expect(await signIn('set@example.com', 'first password')).toBe(401);
    expect(await signIn('set@example.com', 'second password')).toBe(303);
  });

  it('removes a password with null: the account is back to other methods only', async () => {
    const current = (await app.ctx.store.getUser(user.id)) as User;
    const removed = await setUserPassword(app.ctx.store, STATIC, current, null);
    expect(removed.ok).toBe(true);
    expect((await app.ctx.store.getUser(user.id))?.passwordHash).toBeUndefined();
    expect(await signIn('set@example.com', 'second password')).toBe(401);
  });

  it('refuses passwords that are too short or too long, and changes nothing', async () => {
    const current = (await app.ctx.store.getUser(user.id)) as User;
    const short = await setUserPassword(
      app.ctx.store,
      STATIC,
      current,
      'x'.repeat(MIN_PASSWORD_LENGTH - 1),
    );
    expect(short).toMatchObject({ ok: false, reason: 'too_short' });
    const long = await setUserPassword(app.ctx.store, STATIC, current, 'x'.repeat(10_000));
    expect(long).toMatchObject({ ok: false, reason: 'too_long' });
    expect((await app.ctx.store.getUser(user.id))?.passwordHash).toBeUndefined();
  });

  it('leaves users whose password is in the config to the config', async () => {
    const configUser = await app.ctx.store.createUser({
      id: 'u-config',
      email: 'config@example.com',
      name: 'Config',
      groups: [],
      active: true,
      verified: true,
      createdAt: Date.now(),
      lastLoginAt: null,
    });
    const result = await setUserPassword(app.ctx.store, STATIC, configUser, 'another password');
    expect(result).toMatchObject({ ok: false, reason: 'static_user' });
    expect(await signIn('config@example.com', 'another password')).toBe(401);
    expect(await signIn('config@example.com', 'from the config')).toBe(303);
  });
});
