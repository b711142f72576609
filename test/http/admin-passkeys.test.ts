import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode, totpStep } from '../../src/core/totp.js';
import type { PasskeyRecord, User } from '../../src/ports/store.js';
import { type PanelClient, panelClient } from '../helpers/admin-panel.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

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

  async function enrol(
    user: User,
    name: string,
  ): Promise<{ record: PasskeyRecord; device: SoftAuthenticator }> {
    const device = new SoftAuthenticator({ origin: SITE });
    const { options, challengeId } = await app.ctx.passkeys.registrationOptions(user);
    const result = await app.ctx.passkeys.verifyRegistration(
      user.id,
      challengeId,
      device.register(options),
      name,
    );
    if (!result.ok) throw new Error(`enrolment refused: ${result.reason}`);
    return { record: result.record, device };
  }
  async function signInWith(device: SoftAuthenticator, id: string) {
    const { options, challengeId } = await app.ctx.passkeys.authenticationOptions();
    return app.ctx.passkeys.verifyAuthentication(challengeId, device.assert(options, id));
  }
  async function enrolTotp(user: User): Promise<void> {
    const begun = await app.ctx.secondFactors.beginTotpEnrolment(user);
    if (!begun.ok) throw new Error('TOTP enrolment refused');
    const done = await app.ctx.secondFactors.confirmTotpEnrolment(
      user.id,
      totpCode(begun.secret, totpStep(Date.now())),
    );
    if (!done.ok) throw new Error('TOTP confirmation refused');
  }
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
    await enrol(user, 'Pixel <script>');
    await enrolTotp(user);
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
    const { record, device } = await enrol(user, 'Lost phone');
    const kept = await enrol(user, 'Laptop');
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
    expect(await signInWith(device, record.id)).toMatchObject({
      ok: false,
      reason: 'unknown_credential',
    });
    expect(await signInWith(kept.device, kept.record.id)).toMatchObject({ ok: true });
    const events = await app.ctx.store.listAudit(user.id, 10);
    const entry = events.find((e) => e.event === 'admin.remove_passkey');
    expect(entry).toMatchObject({ actor: ADMIN, detail: { name: 'Lost phone' } });
  });

  it("does not remove another user's passkey through this user's page", async () => {
    const owner = await app.ctx.users.findOrCreate('owner@example.com');
    const page = await app.ctx.users.findOrCreate('page@example.com');
    const { record } = await enrol(owner, 'Owner key');
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
    const one = await enrol(user, 'One');
    const two = await enrol(user, 'Two');
    const question = await (await act(user, 'remove_all_passkeys')).text();
    expect(question).toContain('Remove all 2 passkeys of taken-over@example.com?');
    expect(await app.ctx.passkeys.list(user.id)).toHaveLength(2);
    const done = await (await act(user, 'remove_all_passkeys', [['confirm', 'yes']])).text();
    expect(done).toContain('Removed 2 passkeys');
    expect(await app.ctx.passkeys.list(user.id)).toEqual([]);
    for (const { device, record } of [one, two])
      expect((await signInWith(device, record.id)).ok).toBe(false);
    expect(await trail(user)).toContain('admin.remove_all_passkeys');
  });

  it('resets two-step verification after a confirmation', async () => {
    const user = await app.ctx.users.findOrCreate('reset-me@example.com');
    await enrolTotp(user);
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
    const { record } = await enrol(user, 'Guarded');
    await enrolTotp(user);
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
