import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '../../src/ports/store.js';
import { type PanelClient, panelClient } from '../helpers/admin-panel.js';
import { enrolPasskey, enrolTotp, passkeySignIn } from '../helpers/factors.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';

/*
 * A user's passkeys and TOTP on their admin-panel page: listed, one passkey or all of them
 * removed, two-step verification reset, each only after a confirmation and audited; a passkey
 * id of another user is not removed through this user's page; no CSRF token, no change.
 */

const SITE = 'https://auth.example.com';
const ADMIN = 'admin@example.com';

describe('passkeys and two-step verification in the admin panel', () => {
  let app: LoggedApp;
  let panel: PanelClient;
  let adminCookie: string;

  beforeAll(async () => {
    app = await startLoggedApp({
      server: { public_url: SITE },
      admin: { emails: [ADMIN] },
      auth: {
        enabled_auth: ['magic_link', 'passkey', 'basic'],
        magic_link: { mailer: 'manual' },
      },
    });
    panel = panelClient(app);
    adminCookie = await panel.signIn(ADMIN);
  });
  afterAll(async () => {
    await app?.close();
  });

  const act = (user: User, action: string, extra: [string, string][] = [], csrf?: string | null) =>
    panel.post(
      adminCookie,
      [['action', action], ['user', user.id], ['view', user.id], ...extra],
      csrf,
    );
  const trail = async (user: User) =>
    (await app.ctx.store.listAudit(user.id, 50)).map((e) => e.event);

  it("lists the user's passkeys and two-step status on their page", async () => {
    const user = await app.ctx.users.findOrCreate('listed@example.com');
    await enrolPasskey(app.ctx, user, SITE, 'Pixel <script>');
    await enrolTotp(app.ctx, user);
    const body = await (await panel.get(`/auth/admin?user=${user.id}`, adminCookie)).text();
    expect(body).toContain('<h2 id="user-passkeys">Passkeys</h2>');
    expect(body).toContain('Pixel &lt;script&gt;');
    expect(body).toContain('aria-label="Remove the passkey Pixel &lt;script&gt;"');
    expect(body).toContain('Remove all passkeys');
    expect(body).toContain('10 recovery codes left');
    expect(body).toContain('Reset two-step verification');
  });

  it('removes one passkey after a confirmation; it is refused from then on', async () => {
    const user = await app.ctx.users.findOrCreate('lost-phone@example.com');
    const { record, device } = await enrolPasskey(app.ctx, user, SITE, 'Lost phone');
    const kept = await enrolPasskey(app.ctx, user, SITE, 'Laptop');
    const asked = await act(user, 'remove_passkey', [['passkey', record.id]]);
    expect(asked.status).toBe(200);
    const question = await asked.text();
    expect(question).toContain('Remove the passkey “Lost phone” of lost-phone@example.com?');
    expect(question).toContain('<input type="hidden" name="confirm" value="yes">');
    expect(await app.ctx.store.getPasskey(record.id)).not.toBeNull();

    const done = await (
      await act(user, 'remove_passkey', [
        ['passkey', record.id],
        ['confirm', 'yes'],
      ])
    ).text();
    expect(done).toContain('Removed the passkey Lost phone');
    expect(await app.ctx.store.getPasskey(record.id)).toBeNull();
    expect(await passkeySignIn(app.ctx, device, record.id)).toMatchObject({
      ok: false,
      reason: 'unknown_credential',
    });
    expect(await passkeySignIn(app.ctx, kept.device, kept.record.id)).toMatchObject({ ok: true });
    const events = await app.ctx.store.listAudit(user.id, 10);
    const entry = events.find((e) => e.event === 'admin.remove_passkey');
    expect(entry).toMatchObject({ actor: ADMIN, detail: { name: 'Lost phone' } });
  });

  it("does not remove another user's passkey through this user's page", async () => {
    const owner = await app.ctx.users.findOrCreate('owner@example.com');
    const page = await app.ctx.users.findOrCreate('page@example.com');
    const { record } = await enrolPasskey(app.ctx, owner, SITE, 'Owner key');
    const body = await (
      await act(page, 'remove_passkey', [
        ['passkey', record.id],
        ['confirm', 'yes'],
      ])
    ).text();
    expect(body).toContain('That passkey is gone (or is not theirs).');
    expect(await app.ctx.store.getPasskey(record.id)).not.toBeNull();
    expect(await trail(page)).not.toContain('admin.remove_passkey');
  });

  it('removes all passkeys after a confirmation', async () => {
    const user = await app.ctx.users.findOrCreate('taken-over@example.com');
    const one = await enrolPasskey(app.ctx, user, SITE, 'One');
    const two = await enrolPasskey(app.ctx, user, SITE, 'Two');
    const question = await (await act(user, 'remove_all_passkeys')).text();
    expect(question).toContain('Remove all 2 passkeys of taken-over@example.com?');
    expect(await app.ctx.passkeys.list(user.id)).toHaveLength(2);
    const done = await (await act(user, 'remove_all_passkeys', [['confirm', 'yes']])).text();
    expect(done).toContain('Removed 2 passkeys');
    expect(await app.ctx.passkeys.list(user.id)).toEqual([]);
    for (const { device, record } of [one, two])
      expect((await passkeySignIn(app.ctx, device, record.id)).ok).toBe(false);
    expect(await trail(user)).toContain('admin.remove_all_passkeys');
  });

  it('resets two-step verification after a confirmation', async () => {
    const user = await app.ctx.users.findOrCreate('reset-me@example.com');
    await enrolTotp(app.ctx, user);
    const question = await (await act(user, 'reset_second_factor')).text();
    expect(question).toContain('Reset two-step verification of reset-me@example.com?');
    expect(await app.ctx.secondFactors.hasSecondFactor(user.id)).toBe(true);
    const done = await (await act(user, 'reset_second_factor', [['confirm', 'yes']])).text();
    expect(done).toContain('Reset two-step verification: their authenticator app');
    expect(await app.ctx.secondFactors.status(user.id)).toMatchObject({
      totp: 'none',
      recoveryCodesLeft: 0,
    });
    expect(await trail(user)).toContain('admin.reset_second_factor');
  });

  it('changes nothing without a valid CSRF token, or for a signed-in non-admin', async () => {
    const user = await app.ctx.users.findOrCreate('guarded@example.com');
    const { record } = await enrolPasskey(app.ctx, user, SITE, 'Guarded');
    await enrolTotp(app.ctx, user);
    for (const csrf of [null, 'x'.repeat(43)]) {
      const attempts: [string, [string, string][]][] = [
        ['remove_passkey', [['passkey', record.id]]],
        ['remove_all_passkeys', []],
        ['reset_second_factor', []],
      ];
      for (const [action, extra] of attempts) {
        const response = await act(user, action, [...extra, ['confirm', 'yes']], csrf);
        expect(response.status, `${action} ${csrf}`).toBe(403);
      }
    }
    const someone = await panel.signIn('someone@example.com');
    const response = await panel.post(someone, [
      ['action', 'remove_all_passkeys'],
      ['user', user.id],
      ['view', user.id],
      ['confirm', 'yes'],
    ]);
    expect(response.status).toBe(403);
    expect(await app.ctx.store.getPasskey(record.id)).not.toBeNull();
    expect(await app.ctx.secondFactors.hasSecondFactor(user.id)).toBe(true);
  });
});
