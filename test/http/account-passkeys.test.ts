import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '../../src/ports/store.js';
import { type AccountClient, accountClient } from '../helpers/account-client.js';
import { enrolPasskey, enrolTotp, passkeySignIn } from '../helpers/factors.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/*
 * The account page's passkeys and two-step sections over HTTP, as its forms post them: rename,
 * remove (own passkeys only, after a confirmation page), TOTP off (refused when required and no
 * passkey stands in), new recovery codes shown once; CSRF refusals. Then two instances over one
 * Redis: a passkey removed (or its user deactivated) on one is refused on the other at once.
 */

const SITE = 'https://auth.example.com';

describe.each([
  { second: 'optional', name: 'second factor optional' },
  { second: 'required', name: 'second factor required' },
] as const)('account page: passkeys and two-step verification, $name', ({ second }) => {
  let app: LoggedApp;
  let client: AccountClient;

  beforeAll(async () => {
    app = await startLoggedApp({
      server: { public_url: SITE },
      auth: {
        enabled_auth: ['magic_link', 'passkey', 'basic'],
        magic_link: { mailer: 'manual' },
        basic: { second_factor: second },
      },
    });
    client = accountClient(app, SITE);
  });
  afterAll(async () => {
    await app?.close();
  });

  let n = 0;
  async function newUser(): Promise<{ user: User; cookie: string }> {
    n += 1;
    const user = await app.ctx.users.findOrCreate(
      `pk${n}-${randomBytes(3).toString('hex')}@example.com`,
    );
    const { cookie } = await app.ctx.sessions.create(user, {
      ip: '203.0.113.9',
      userAgent: 'vitest',
      method: 'magic_link',
    });
    return { user, cookie };
  }
  const trail = async (user: User) =>
    (await app.ctx.store.listAudit(user.id, 50)).map((e) => e.event);

  /** The page a 303 leads to. */
  async function follow(response: Response, cookie: string): Promise<string> {
    expect(response.status).toBe(303);
    return (await client.get(response.headers.get('location') ?? '', cookie)).text();
  }

  /** Posts one of the page's forms and returns the page its 303 leads to. */
  async function submit(cookie: string, fields: Record<string, string>): Promise<string> {
    return follow(await client.post(cookie, fields), cookie);
  }

  it('lists passkeys with name, dates and the synced badge, and links to enrolment', async () => {
    const { user, cookie } = await newUser();
    const body0 = await (await client.get('/auth/account', cookie)).text();
    expect(body0).toContain('<h2 id="passkeys">Passkeys</h2>');
    expect(body0).toContain('You have no passkeys yet.');
    expect(body0).toContain(
      `href="/auth/passkey/enrol?rd=${encodeURIComponent('/auth/account')}">Add a passkey on this device</a>`,
    );
    // The link leads somewhere: the offer, or the step-up it asks for first (never a 404).
    const href = /href="([^"]*)">Add a passkey on this device/.exec(body0)?.[1] ?? '';
    const followed = await client.get(href.replaceAll('&amp;', '&'), cookie);
    expect([200, 303]).toContain(followed.status);
    await enrolPasskey(app.ctx, user, SITE, 'Pixel <8>', { backedUp: true });
    await enrolPasskey(app.ctx, user, SITE, 'YubiKey');
    const body = await (await client.get('/auth/account', cookie)).text();
    expect(body).toContain('<strong>Pixel &lt;8&gt;</strong> <span class="badge info"');
    expect(body).toContain('<strong>YubiKey</strong><br>');
    expect(body.match(/>synced</g)?.length).toBe(1);
    expect(body).toContain('last used never</span>');
  });

  it('renames a passkey through its form; the name is cleaned and the change audited', async () => {
    const { user, cookie } = await newUser();
    const { record } = await enrolPasskey(app.ctx, user, SITE, 'Passkey');
    const form = await (
      await client.get(`/auth/account?step=rename_passkey&passkey=${record.id}`, cookie)
    ).text();
    expect(form).toContain('<h1>Rename a passkey</h1>');
    expect(form).toContain('value="Passkey" autofocus');
    const page = await submit(cookie, {
      action: 'rename_passkey',
      passkey: record.id,
      name: '  Work\u0000 laptop\u202e  ',
    });
    expect(page).toContain('The passkey is renamed.');
    expect((await app.ctx.store.getPasskey(record.id))?.name).toBe('Work laptop');
    expect(await trail(user)).toContain('account.passkey_renamed');
  });

  it("another user's passkey id renames and removes nothing, and has no step page", async () => {
    const owner = await newUser();
    const { record } = await enrolPasskey(app.ctx, owner.user, SITE, 'Owner phone');
    const other = await newUser();
    const steps = await (
      await client.get(`/auth/account?step=remove_passkey&passkey=${record.id}`, other.cookie)
    ).text();
    expect(steps).toContain('that passkey is not one of yours');
    expect(steps).not.toContain('Owner phone');
    const renamed = await submit(other.cookie, {
      action: 'rename_passkey',
      passkey: record.id,
      name: 'mine now',
    });
    expect(renamed).toContain('that passkey is not one of yours');
    const removed = await submit(other.cookie, {
      action: 'remove_passkey',
      passkey: record.id,
      confirm: 'yes',
    });
    expect(removed).toContain('that passkey is not one of yours');
    expect(await app.ctx.store.getPasskey(record.id)).toMatchObject({
      name: 'Owner phone',
      userId: owner.user.id,
    });
    expect(await trail(other.user)).not.toContain('account.passkey_removed');
  });

  it('removes a passkey only after the confirmation page; it is refused at once', async () => {
    const { user, cookie } = await newUser();
    const { record, device } = await enrolPasskey(app.ctx, user, SITE, 'Old phone', {
      backedUp: true,
    });
    expect((await passkeySignIn(app.ctx, device, record.id)).ok).toBe(true);
    // The list's button (or a post without confirm) leads to the question, changing nothing.
    const asked = await client.post(cookie, { action: 'remove_passkey', passkey: record.id });
    expect(asked.status).toBe(303);
    expect(asked.headers.get('location')).toBe(
      `/auth/account?step=remove_passkey&passkey=${record.id}`,
    );
    const question = await (await client.get(asked.headers.get('location') ?? '', cookie)).text();
    expect(question).toContain('Remove the passkey “Old phone”?');
    expect(question).toContain('on every device it is synced to');
    expect(question).toContain('<input type="hidden" name="confirm" value="yes">');
    expect(await app.ctx.store.getPasskey(record.id)).not.toBeNull();

    const page = await submit(cookie, {
      action: 'remove_passkey',
      passkey: record.id,
      confirm: 'yes',
    });
    expect(page).toContain('The passkey is removed');
    expect(page).not.toContain('Old phone');
    expect(await app.ctx.store.getPasskey(record.id)).toBeNull();
    expect(await passkeySignIn(app.ctx, device, record.id)).toMatchObject({
      ok: false,
      reason: 'unknown_credential',
    });
    expect(await trail(user)).toContain('account.passkey_removed');
  });

  it('refuses every passkey action without the session-bound CSRF token or cross-site', async () => {
    const { user, cookie } = await newUser();
    const { record } = await enrolPasskey(app.ctx, user, SITE, 'Keep me');
    const attempts: [Record<string, string>, Parameters<typeof client.post>[2]][] = [
      [{ action: 'remove_passkey', passkey: record.id, confirm: 'yes' }, { csrf: null }],
      [{ action: 'remove_passkey', passkey: record.id, confirm: 'yes' }, { csrf: 'x'.repeat(43) }],
      [
        { action: 'remove_passkey', passkey: record.id, confirm: 'yes' },
        { headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' } },
      ],
      [{ action: 'rename_passkey', passkey: record.id, name: 'pwned' }, { csrf: null }],
      [{ action: 'disable_totp', confirm: 'yes' }, { csrf: null }],
      [{ action: 'regenerate_recovery_codes' }, { csrf: null }],
    ];
    for (const [fields, options] of attempts) {
      const response = await client.post(cookie, fields, options);
      expect(response.status, JSON.stringify(fields)).toBe(403);
    }
    // Another user's valid token is not this session's.
    const other = await newUser();
    const foreign = await client.csrfOf(other.cookie);
    const response = await client.post(
      cookie,
      { action: 'remove_passkey', passkey: record.id, confirm: 'yes' },
      { csrf: foreign },
    );
    expect(response.status).toBe(403);
    expect(await app.ctx.store.getPasskey(record.id)).toMatchObject({ name: 'Keep me' });
  });

  it('a repeated passkey or confirm field is refused', async () => {
    const { user, cookie } = await newUser();
    const { record } = await enrolPasskey(app.ctx, user, SITE, 'Twice');
    const csrf = await client.csrfOf(cookie);
    const body = `csrf=${csrf}&action=remove_passkey&passkey=nothing&passkey=${record.id}&confirm=yes`;
    const response = await client.postRaw(cookie, body);
    expect(response.status).toBe(400);
    expect(await app.ctx.store.getPasskey(record.id)).not.toBeNull();
  });

  it('shows two-step status and links to set-up when the app is off', async () => {
    const { cookie } = await newUser();
    const body = await (await client.get('/auth/account', cookie)).text();
    expect(body).toContain('<h2 id="two-step">Two-step verification</h2>');
    expect(body).toContain('<a href="/auth/totp/setup">Set up an authenticator app</a>');
    expect(body).not.toContain('New recovery codes');
    expect(body.includes('This site requires it.')).toBe(second === 'required');
  });

  it('new recovery codes: shown once, not cached, the old ones no longer work', async () => {
    const { user, cookie } = await newUser();
    const old = (await enrolTotp(app.ctx, user)).recoveryCodes;
    const before = await (await client.get('/auth/account', cookie)).text();
    expect(before).toContain('10 left');
    const response = await client.post(cookie, { action: 'regenerate_recovery_codes' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = await response.text();
    const codes = [...body.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1] as string);
    expect(codes).toHaveLength(10);
    expect(body).toContain('Your new recovery codes');
    // Not on the next load, and not in the log.
    const after = await (await client.get('/auth/account', cookie)).text();
    expect(after).not.toContain(codes[0] as string);
    expect(JSON.stringify(app.logs)).not.toContain(codes[0] as string);
    expect(await app.ctx.secondFactors.useRecoveryCode(user.id, codes[0] as string)).toMatchObject({
      ok: true,
      remaining: 9,
    });
    expect(await app.ctx.secondFactors.useRecoveryCode(user.id, old[1] as string)).toMatchObject({
      ok: false,
      reason: 'bad_code',
    });
    expect(await trail(user)).toContain('account.recovery_codes_regenerated');
  });

  it('turning TOTP off asks first; when required it is refused until a passkey exists', async () => {
    const { user, cookie } = await newUser();
    await enrolTotp(app.ctx, user);
    const asked = await client.post(cookie, { action: 'disable_totp' });
    expect(asked.headers.get('location')).toBe('/auth/account?step=disable_totp');
    const question = await (await client.get('/auth/account?step=disable_totp', cookie)).text();
    expect(await app.ctx.secondFactors.hasSecondFactor(user.id)).toBe(true);
    if (second === 'required') {
      expect(question).toContain('cannot be turned off');
      expect(question).toContain('Add a passkey first');
      expect(question).not.toContain('name="confirm"');
      const refused = await submit(cookie, { action: 'disable_totp', confirm: 'yes' });
      expect(refused).toContain('Two-step verification stays on');
      expect(await app.ctx.secondFactors.hasSecondFactor(user.id)).toBe(true);
      await enrolPasskey(app.ctx, user, SITE, 'Laptop');
      const now = await (await client.get('/auth/account?step=disable_totp', cookie)).text();
      expect(now).toContain('asks for one of your passkeys');
    } else {
      expect(question).toContain('Turn off two-step verification?');
    }
    const page = await submit(cookie, { action: 'disable_totp', confirm: 'yes' });
    expect(page).toContain('Two-step verification is off');
    expect(await app.ctx.secondFactors.status(user.id)).toMatchObject({
      totp: 'none',
      recoveryCodesLeft: 0,
    });
    expect(await trail(user)).toContain('account.totp_disabled');
  });
});

describe('account page without the passkey method', () => {
  let app: LoggedApp;
  beforeAll(async () => {
    app = await startLoggedApp({
      server: { public_url: SITE },
      auth: { magic_link: { mailer: 'manual' } },
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('has no passkeys or two-step section, unless the user still has passkeys', async () => {
    const user = await app.ctx.users.findOrCreate('legacy@example.com');
    const { cookie } = await app.ctx.sessions.create(user, {
      ip: '203.0.113.9',
      userAgent: 'vitest',
      method: 'magic_link',
    });
    const client = accountClient(app, SITE);
    const plain = await (await client.get('/auth/account', cookie)).text();
    expect(plain).not.toContain('Passkeys');
    expect(plain).not.toContain('Two-step verification');
    const { record } = await enrolPasskey(app.ctx, user, SITE, 'From before');
    const listed = await (await client.get('/auth/account', cookie)).text();
    expect(listed).toContain('From before');
    expect(listed).not.toContain('Add a passkey on this device');
    const removed = await client.post(cookie, {
      action: 'remove_passkey',
      passkey: record.id,
      confirm: 'yes',
    });
    expect(removed.headers.get('location')).toBe('/auth/account?done=passkey_removed');
    expect(await app.ctx.store.getPasskey(record.id)).toBeNull();
  });
});

describe('two instances over one Redis', () => {
  let redis: RedisServer;
  let a: LoggedApp;
  let b: LoggedApp;

  beforeAll(async () => {
    redis = await startRedis();
    const config = {
      server: { public_url: SITE },
      auth: { enabled_auth: ['magic_link', 'passkey'], magic_link: { mailer: 'manual' } },
      admin: { emails: ['admin@example.com'] },
      store: { url: redis.url, key_prefix: `pk2-${randomBytes(4).toString('hex')}:` },
    };
    a = await startLoggedApp(config);
    b = await startLoggedApp(config);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('a passkey removed on A is refused on B at once', async () => {
    const user = await a.ctx.users.findOrCreate('roaming@example.com');
    const { cookie } = await a.ctx.sessions.create(user, {
      ip: '203.0.113.9',
      userAgent: 'vitest',
      method: 'magic_link',
    });
    const { record, device } = await enrolPasskey(a.ctx, user, SITE, 'Phone');
    const kept = await enrolPasskey(a.ctx, user, SITE, 'Laptop');
    // B signs in with it (B has read it once: anything it kept would be warm now).
    expect(await passkeySignIn(b.ctx, device, record.id)).toMatchObject({ ok: true });
    expect(await passkeySignIn(b.ctx, device, record.id)).toMatchObject({ ok: true });
    const removed = await accountClient(a, SITE).post(cookie, {
      action: 'remove_passkey',
      passkey: record.id,
      confirm: 'yes',
    });
    expect(removed.headers.get('location')).toBe('/auth/account?done=passkey_removed');
    // No wait: the very next ceremony on B is refused.
    expect(await passkeySignIn(b.ctx, device, record.id)).toMatchObject({
      ok: false,
      reason: 'unknown_credential',
    });
    expect(await passkeySignIn(b.ctx, kept.device, kept.record.id)).toMatchObject({ ok: true });
  });

  it('a user deactivated on A has every passkey refused on B at once', async () => {
    const user = await a.ctx.users.findOrCreate('leaver@example.com');
    const { record, device } = await enrolPasskey(a.ctx, user, SITE, 'Phone');
    expect(await passkeySignIn(b.ctx, device, record.id)).toMatchObject({ ok: true });
    const admin = await a.ctx.users.findOrCreate('admin@example.com');
    await a.ctx.admin.bulk(admin, 'deactivate', [user.id], null);
    expect(await passkeySignIn(b.ctx, device, record.id)).toMatchObject({
      ok: false,
      reason: 'inactive_user',
    });
  });
});
