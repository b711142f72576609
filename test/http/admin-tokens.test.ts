import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PanelClient, panelClient } from '../helpers/admin-panel.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';

const ADMIN = 'admin@example.com';
const TARGET = 'http://app.test/api/';
const TOKEN = /value="(pcx_[A-Za-z0-9_-]+)"/;

describe('app tokens for any user in the admin panel', () => {
  let app: LoggedApp;
  let panel: PanelClient;
  let adminCookie: string;

  const createToken = (userId: string, name: string, expires = 'max', csrf?: string | null) =>
    panel.post(
      adminCookie,
      [
        ['action', 'create_token'],
        ['user', userId],
        ['view', userId],
        ['name', name],
        ['expires', expires],
      ],
      csrf,
    );
  const revoke = (userId: string, token: string) =>
    panel.post(adminCookie, [
      ['action', 'revoke_token'],
      ['user', userId],
      ['view', userId],
      ['token', token],
    ]);

  beforeAll(async () => {
    app = await startLoggedApp({
      server: { public_url: 'https://auth.example.com' },
      admin: { emails: [ADMIN] },
      auth: { magic_link: { mailer: 'manual' } },
      tokens: { max_lifetime: '90d' },
    });
    panel = panelClient(app);
    adminCookie = await panel.signIn(ADMIN);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('creates a token shown once (no-store), which then works; the log never holds it', async () => {
    const user = await app.ctx.users.findOrCreate('script@example.com');
    const response = await createToken(user.id, 'Backup script', '30d');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = await response.text();
    expect(body).toContain('Token “Backup script” created');
    const token = TOKEN.exec(body)?.[1] as string;
    expect(token).toBeTruthy();
    const check = await panel.traefik(TARGET, { bearer: token });
    expect(check.status).toBe(200);
    expect(check.headers.get('remote-email')).toBe('script@example.com');
    const again = await (await panel.get(`/auth/admin?user=${user.id}`, adminCookie)).text();
    expect(again).not.toContain(token);
    expect(again).toMatch(
      /<td>Backup script<span class="narrow-only muted"><br>last used [^<]+UTC<\/span><\/td>\s*<td class="wide-only">[^<]+UTC<\/td>\s*<td class="wide-only">[^<]+UTC<\/td>/,
    );
    expect(JSON.stringify(app.logs)).not.toContain(token);
    expect(app.logs.find((l) => l.event === 'admin.create_token')).toMatchObject({
      actor: ADMIN,
      subject: 'script@example.com',
      name: 'Backup script',
    });
    const [record] = await app.ctx.store.listUserAppTokens(user.id);
    expect((record?.expiresAt ?? 0) - (record?.createdAt ?? 0)).toBe(30 * 86_400_000);
  });

  it('offers expiries up to tokens.max_lifetime and refuses others', async () => {
    const user = await app.ctx.users.findOrCreate('expiry@example.com');
    const page = await (await panel.get(`/auth/admin?user=${user.id}`, adminCookie)).text();
    expect(page).toContain('<option value="30d">30 days</option>');
    expect(page).toContain('90 days (the longest allowed)');
    expect(page).not.toContain('value="365d"');
    for (const bad of ['365d', '0d', 'forever', '-1d'])
      expect(await (await createToken(user.id, 'x', bad)).text()).toContain('Not created:');
    const blank = await (await createToken(user.id, '   ')).text();
    expect(blank).toMatch(/id="token-name-error"[^>]*role="alert">Not created: a name is 1 to 64/);
    expect(await app.ctx.store.listUserAppTokens(user.id)).toEqual([]);
  });

  it('revokes a token: the check refuses it', async () => {
    const user = await app.ctx.users.findOrCreate('revoked@example.com');
    const token = TOKEN.exec(await (await createToken(user.id, 'Phone')).text())?.[1] as string;
    expect((await panel.traefik(TARGET, { bearer: token })).status).toBe(200);
    const [record] = await app.ctx.store.listUserAppTokens(user.id);
    const other = await app.ctx.users.findOrCreate('other@example.com');
    // Another user's page cannot revoke it.
    expect(await (await revoke(other.id, record?.id as string)).text()).toContain(
      'already revoked or does not exist',
    );
    expect((await panel.traefik(TARGET, { bearer: token })).status).toBe(200);
    const body = await (await revoke(user.id, record?.id as string)).text();
    expect(body).toContain('Revoked the token Phone');
    expect((await panel.traefik(TARGET, { bearer: token })).status).toBe(401);
    expect(app.logs.find((l) => l.event === 'admin.revoke_token')).toMatchObject({
      subject: 'revoked@example.com',
      name: 'Phone',
    });
  });

  it('deactivating the user refuses their tokens at once', async () => {
    const user = await app.ctx.users.findOrCreate('leaver@example.com');
    const token = TOKEN.exec(await (await createToken(user.id, 'CI')).text())?.[1] as string;
    expect((await panel.traefik(TARGET, { bearer: token })).status).toBe(200);
    const asked = await (
      await panel.post(adminCookie, [
        ['action', 'deactivate'],
        ['user', user.id],
      ])
    ).text();
    // The confirmation names what stops working; nothing changes until it is confirmed.
    expect(asked).toContain(
      'can no longer sign in; they have no open session; their 1 app token stops working',
    );
    expect((await panel.traefik(TARGET, { bearer: token })).status).toBe(200);
    await panel.post(adminCookie, [
      ['action', 'deactivate'],
      ['user', user.id],
      ['confirm', 'yes'],
    ]);
    expect((await panel.traefik(TARGET, { bearer: token })).status).toBe(401);
  });

  it('refuses without the CSRF token and for non-admins', async () => {
    const user = await app.ctx.users.findOrCreate('csrf@example.com');
    expect((await createToken(user.id, 'forged', 'max', null)).status).toBe(403);
    const cookie = await panel.signIn('csrf@example.com');
    const self = await panel.post(cookie, [
      ['action', 'create_token'],
      ['user', user.id],
      ['name', 'mine'],
      ['expires', 'max'],
    ]);
    expect(self.status).toBe(403);
    expect(await app.ctx.store.listUserAppTokens(user.id)).toEqual([]);
  });

  it('styles destructive actions as danger', async () => {
    const user = await app.ctx.users.findOrCreate('styles@example.com');
    await panel.signIn('styles@example.com');
    await createToken(user.id, 'Laptop');
    const page = await (await panel.get(`/auth/admin?user=${user.id}`, adminCookie)).text();
    expect(page).toContain('value="deactivate" class="danger"');
    expect(page).toContain('value="logout_everywhere" class="danger secondary"');
    expect(page).toMatch(/class="small danger secondary" aria-label="Revoke the token Laptop"/);
    expect(page).toMatch(/class="small danger secondary" aria-label="End session/);
    expect(page).toContain('value="make_admin" class="secondary"');
  });
});
