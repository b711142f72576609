import type { UserDirectory } from '../../ports/store.js';
import type { AuditLog } from '../../services/audit.js';
import type { PasskeyService } from '../../services/passkeys.js';
import type { SecondFactorService } from '../../services/second-factor.js';
import type { PanelActionInput } from './admin-actions.js';
import { type ActionResult, error, info, none, plural, type Screen } from './admin-outcome.js';

/** A user's second factors as the panel shows and removes them. */
export interface FactorDeps {
  passkeys: Pick<PasskeyService, 'list' | 'remove' | 'removeAll'>;
  secondFactors: Pick<SecondFactorService, 'status' | 'disable'>;
  users: Pick<UserDirectory, 'getUser'>;
  audit: Pick<AuditLog, 'record'>;
}

/**
 * Removing a user's passkeys or resetting their TOTP. Each asks first: only the confirmation's
 * form carries `confirm=yes`. A passkey id is removed only when it is this user's.
 */
export async function runFactorAction(
  action: 'remove_passkey' | 'remove_all_passkeys' | 'reset_second_factor',
  input: PanelActionInput,
  userScreen: Screen & { kind: 'user' },
): Promise<ActionResult> {
  const { factors, actor, form, source } = input;
  const userId = userScreen.userId;
  const user = userId ? await factors.users.getUser(userId) : null;
  if (!user) return { screen: { kind: 'list' }, outcome: error('No such user.') };
  const confirmed = form.get('confirm') === 'yes';
  const who = { actor, subject: user, source };
  if (action === 'remove_passkey') {
    const id = (form.get('passkey') ?? '').slice(0, 2048);
    const found = (await factors.passkeys.list(user.id)).find((p) => p.id === id);
    if (!found)
      return { screen: userScreen, outcome: error('That passkey is gone (or is not theirs).') };
    if (!confirmed)
      return {
        screen: { ...userScreen, confirm: { kind: action, passkeyId: found.id, name: found.name } },
        outcome: none(),
      };
    const removed = await factors.passkeys.remove(user.id, found.id);
    if (!removed) return { screen: userScreen, outcome: error('That passkey is already gone.') };
    await factors.audit.record(
      { event: 'admin.remove_passkey', facts: { passkey_id: removed.id, name: removed.name } },
      who,
    );
    return {
      screen: userScreen,
      outcome: info(`Removed the passkey ${removed.name}; it is refused from now on.`),
    };
  }
  if (action === 'remove_all_passkeys') {
    const count = (await factors.passkeys.list(user.id)).length;
    if (count === 0) return { screen: userScreen, outcome: info('They have no passkeys.') };
    if (!confirmed)
      return { screen: { ...userScreen, confirm: { kind: action, count } }, outcome: none() };
    const removed = await factors.passkeys.removeAll(user.id);
    await factors.audit.record(
      { event: 'admin.remove_all_passkeys', facts: { passkeys: removed.length } },
      who,
    );
    return {
      screen: userScreen,
      outcome: info(`Removed ${plural(removed.length, 'passkey')}; they are refused from now on.`),
    };
  }
  const status = await factors.secondFactors.status(user.id);
  if (status.totp === 'none')
    return { screen: userScreen, outcome: info('They have no two-step verification to reset.') };
  if (!confirmed) return { screen: { ...userScreen, confirm: { kind: action } }, outcome: none() };
  await factors.secondFactors.disable(user.id);
  await factors.audit.record(
    { event: 'admin.reset_second_factor', facts: { totp: status.totp } },
    who,
  );
  return {
    screen: userScreen,
    outcome: info(
      'Reset two-step verification: their authenticator app and recovery codes no longer work.',
    ),
  };
}
