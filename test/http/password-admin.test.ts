import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/core/password.js';
import type { User, UserInput } from '../../src/ports/store.js';
import { formToken } from '../helpers/form-token.js';
import { type SsoApp, startSsoApp } from '../helpers/oidc-provider.js';
import { basicSignIn } from '../helpers/password.js';
import { freePort } from '../helpers/ports.js';

/** The admin panel's "Set password" form on a user's page, end to end over HTTP. */
const CSRF = 'a'.repeat(43);
let app: SsoApp;
let adminCookie: string;
let member: User;

async function sessionFor(user: User): Promise<string> {
  const { cookie } = await app.ctx.sessions.create(user, {
    ip: '127.0.0.1',
    userAgent: 'test',
    method: 'test',
  });
  return `portcullis_session=${cookie}; portcullis_csrf=${CSRF}`;
}

function newUser(id: string, email: string): UserInput {
  return {
    id,
    email,
    name: id,
    groups: [],
    active: true,
    verified: true,
    createdAt: Date.now(),
    lastLoginAt: null,
  };
}

beforeAll(async () => {
  app = await startSsoApp(await freePort(), {
    admin: { emails: ['boss@example.com'] },
    auth: {
      enabled_auth: ['magic_link', 'basic'],
      basic: {
        users: [
          { email: 'static@example.com', password_hash: await hashPassword('static secret') },
        ],
      },
    },
  });
  const boss = await app.ctx.store.createUser(newUser('boss', 'boss@example.com'));
  member = await app.ctx.store.createUser(newUser('member', 'member@example.com'));
  await app.ctx.store.createUser(newUser('static', 'static@example.com'));
  adminCookie = await sessionFor(boss);
});

afterAll(async () => {
  await app?.close();
});

async function setPassword(userId: string, password: string, cookie = adminCookie) {
  // The panel's forms carry a token bound to the session (src/http/csrf.ts).
  const { token } = await formToken(app.url, cookie);
  return fetch(`${app.url}/auth/admin`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({
      csrf: token,
      action: 'set_password',
      user: userId,
      view: userId,
      password,
    }).toString(),
  });
}

const signIn = basicSignIn(() => app.url, CSRF, '10.3.3');

describe('admin: set or reset a password', () => {
  it('offers the form on a user page when password sign-in is enabled', async () => {
    const page = await (
      await fetch(`${app.url}/auth/admin?user=member`, { headers: { cookie: adminCookie } })
    ).text();
    expect(page).toContain('name="action" value="set_password"');
    expect(page).toContain('autocomplete="new-password"');
  });

  it('sets a password the user can sign in with, audits it, and never logs the password', async () => {
    const response = await setPassword(member.id, 'fresh password 1');
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Set a new password for member@example.com');
    expect(await signIn('member@example.com', 'fresh password 1')).toBe(303);
    expect(
      app.logs.some((l) => l.event === 'admin.set_password' && l.subject === 'member@example.com'),
    ).toBe(true);
    expect(JSON.stringify(app.logs)).not.toContain('fresh password 1');
  });

  it('resets it: the old password stops working', async () => {
    await setPassword(member.id, 'second password 2');
    expect(await signIn('member@example.com', 'fresh password 1')).toBe(401);
    expect(await signIn('member@example.com', 'second password 2')).toBe(303);
  });

  it('refuses a short password and a config user, with a message', async () => {
    expect(await (await setPassword(member.id, 'short')).text()).toContain('at least 8 characters');
    expect(await signIn('member@example.com', 'second password 2')).toBe(303);
    expect(await (await setPassword('static', 'another password')).text()).toContain(
      'change it there',
    );
    expect(await signIn('static@example.com', 'static secret')).toBe(303);
  });

  it('removes the password when the field is left empty', async () => {
    expect(await (await setPassword(member.id, '')).text()).toContain('Removed the password');
    expect(await signIn('member@example.com', 'second password 2')).toBe(401);
  });

  it('is for admins only', async () => {
    const response = await setPassword(member.id, 'hijacked password', await sessionFor(member));
    expect(response.status).toBe(403);
    expect(await signIn('member@example.com', 'hijacked password')).toBe(401);
  });
});
