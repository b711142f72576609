import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { RecentProofs } from '../../src/http/login/step-up-recent.js';
import type { User } from '../../src/ports/store.js';
import { type AccountClient, accountClient } from '../helpers/account-client.js';
import { enrolPasskey, enrolTotp } from '../helpers/factors.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';

/*
 * "Sudo mode": the account changes a stolen session cookie must not make are refused to a
 * session that did not sign in or step up in the last 15 minutes, and sent to the step-up
 * instead: creating an app token, new recovery codes, removing a passkey, turning two-step
 * verification off, setting up an authenticator app (adding a passkey: test/http/step-up.test.ts).
 * Nothing is changed on the refused request; a fresh session makes the same change.
 */

const SITE = 'https://auth.example.com';
const STALE_MS = 16 * 60_000;
const STEP_UP = (rd: string) => `/auth/login?rd=${encodeURIComponent(rd)}&step_up=recent`;

const clock = new ManualClock(Date.now());
let app: LoggedApp;
let client: AccountClient;
let counter = 0;

beforeAll(async () => {
  app = await startLoggedApp(
    {
      server: { public_url: SITE },
      auth: {
        enabled_auth: ['magic_link', 'passkey', 'basic'],
        magic_link: { mailer: 'manual' },
        basic: { second_factor: 'optional' },
      },
    },
    { clock },
  );
  client = accountClient(app, SITE);
});
afterAll(async () => {
  await app?.close();
});

async function newUser(): Promise<User> {
  counter += 1;
  return app.ctx.users.findOrCreate(`sudo${counter}@example.com`);
}

async function signIn(user: User): Promise<string> {
  const { cookie } = await app.ctx.sessions.create(user, {
    ip: '203.0.113.7',
    userAgent: 'test',
    method: 'magic_link',
  });
  return cookie;
}

/** A session signed in long enough ago that it no longer counts as a fresh proof. */
async function staleSession(user: User): Promise<{ cookie: string; csrf: string }> {
  const cookie = await signIn(user);
  const csrf = await client.csrfOf(cookie);
  clock.advance(STALE_MS);
  return { cookie, csrf };
}

interface Change {
  name: string;
  /** Puts the user in a state where the change applies; returns the form's fields. */
  prepare(user: User): Promise<Record<string, string>>;
  /** Whether the change was made. */
  made(user: User, before: unknown): Promise<boolean>;
  snapshot(user: User): Promise<unknown>;
}

const CHANGES: Change[] = [
  {
    name: 'create an app token',
    prepare: async () => ({ action: 'create_token', name: 'ci', expires: '30d' }),
    snapshot: async (user) => (await app.ctx.store.listUserAppTokens(user.id)).length,
    made: async (user, before) =>
      (await app.ctx.store.listUserAppTokens(user.id)).length > (before as number),
  },
  {
    name: 'get new recovery codes',
    prepare: async (user) => {
      await enrolTotp(app.ctx, user, clock.now());
      return { action: 'regenerate_recovery_codes' };
    },
    snapshot: async (user) => (await app.ctx.store.getSecondFactors(user.id))?.recoveryHashes,
    made: async (user, before) =>
      JSON.stringify((await app.ctx.store.getSecondFactors(user.id))?.recoveryHashes) !==
      JSON.stringify(before),
  },
  {
    name: 'remove a passkey',
    prepare: async (user) => ({
      action: 'remove_passkey',
      passkey: (await enrolPasskey(app.ctx, user, SITE, 'Laptop')).record.id,
      confirm: 'yes',
    }),
    snapshot: async (user) => (await app.ctx.passkeys.list(user.id)).length,
    made: async (user, before) =>
      (await app.ctx.passkeys.list(user.id)).length < (before as number),
  },
  {
    name: 'turn two-step verification off',
    prepare: async (user) => {
      await enrolTotp(app.ctx, user, clock.now());
      return { action: 'disable_totp', confirm: 'yes' };
    },
    snapshot: async (user) => (await app.ctx.secondFactors.status(user.id)).totp,
    made: async (user) => (await app.ctx.secondFactors.status(user.id)).totp === 'none',
  },
];

describe.each(CHANGES)('account page: $name', (change) => {
  it('is refused to an old session, which is sent to the step-up; nothing changes', async () => {
    const user = await newUser();
    const fields = await change.prepare(user);
    const { cookie, csrf } = await staleSession(user);
    const before = await change.snapshot(user);
    const answer = await client.post(cookie, fields, { csrf });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe(STEP_UP('/auth/account'));
    expect(await answer.text()).not.toMatch(/pcx_|recovery/i);
    expect(await change.made(user, before)).toBe(false);
    // The step-up it is sent to: the new link's field is focused when nothing comes before it.
    const page = await (await client.get(STEP_UP('/auth/account'), cookie)).text();
    expect(page).toContain('Confirm it is you');
    const [field] = /<input id="magic-email"[^>]*>/.exec(page) ?? [''];
    const factors = /Use your passkey|authenticator app/.test(page);
    expect(field.includes('autofocus')).toBe(!factors);
  });

  it('is made by a session that signed in just now', async () => {
    const user = await newUser();
    const fields = await change.prepare(user);
    const cookie = await signIn(user);
    const before = await change.snapshot(user);
    const answer = await client.post(cookie, fields);
    expect([200, 303]).toContain(answer.status);
    expect(answer.headers.get('location') ?? '').not.toContain('step_up');
    expect(await change.made(user, before)).toBe(true);
  });
});

describe('account page: the confirmation steps', () => {
  it('ask an old session for a proof first, and come back to the same step after', async () => {
    const user = await newUser();
    const passkey = (await enrolPasskey(app.ctx, user, SITE, 'Laptop')).record.id;
    await enrolTotp(app.ctx, user, clock.now());
    const { cookie } = await staleSession(user);
    const remove = await client.get(
      `/auth/account?step=remove_passkey&passkey=${encodeURIComponent(passkey)}&junk=1`,
      cookie,
    );
    expect(remove.status).toBe(303);
    expect(remove.headers.get('location')).toBe(
      STEP_UP(`/auth/account?step=remove_passkey&passkey=${encodeURIComponent(passkey)}`),
    );
    const off = await client.get('/auth/account?step=disable_totp', cookie);
    expect(off.headers.get('location')).toBe(STEP_UP('/auth/account?step=disable_totp'));
    // The steps that change nothing (rename) and the page itself stay open.
    expect((await client.get('/auth/account', cookie)).status).toBe(200);
    const rename = await client.get(
      `/auth/account?step=rename_passkey&passkey=${encodeURIComponent(passkey)}`,
      cookie,
    );
    expect(rename.status).toBe(200);
  });

  it('counts a step-up: the same old session may then make the change', async () => {
    const user = await newUser();
    await enrolTotp(app.ctx, user, clock.now());
    const { cookie, csrf } = await staleSession(user);
    const session = await app.ctx.sessions.resolve(cookie);
    if (session.kind !== 'valid') throw new Error('no session');
    // What the step-up page records once the person proved themself (step-up-kit.ts).
    await new RecentProofs(app.ctx.store, clock).record(session.live.session.id);
    const answer = await client.post(cookie, { action: 'disable_totp', confirm: 'yes' }, { csrf });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).not.toContain('step_up');
    expect((await app.ctx.secondFactors.status(user.id)).totp).toBe('none');
  });
});

describe('setting up an authenticator app', () => {
  it('asks an old session for a proof first, on the page and on the form', async () => {
    const user = await newUser();
    const { cookie, csrf } = await staleSession(user);
    const page = await client.get('/auth/totp/setup', cookie);
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe(STEP_UP('/auth/totp/setup'));
    const posted = await client.postRaw(
      cookie,
      new URLSearchParams({ csrf, code: '123456' }).toString(),
      '/auth/totp/setup',
    );
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe(STEP_UP('/auth/totp/setup'));
    expect((await app.ctx.secondFactors.status(user.id)).totp).toBe('none');
  });

  it('shows the QR code to a session that signed in just now', async () => {
    const user = await newUser();
    const cookie = await signIn(user);
    const page = await client.get('/auth/totp/setup', cookie);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<svg');
  });
});
