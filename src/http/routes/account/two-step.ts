import type { AccountStep } from '../../views/account-page.js';
import type { AccountRouteDeps } from '../account.js';
import type { MessageKey } from './messages.js';
import { type ActionContext, type ActionOutcome, back } from './outcome.js';

type TwoStepDeps = Pick<
  AccountRouteDeps,
  'passkeys' | 'secondFactors' | 'basicEnabled' | 'secondFactor'
>;

/** Whether turning the TOTP off is refused: required, and no passkey to stand in for it. */
async function totpOffRefused(deps: TwoStepDeps, userId: string): Promise<boolean> {
  if (deps.secondFactor !== 'required') return false;
  return (await deps.passkeys.list(userId)).length === 0;
}

/** GET ?step=disable_totp: the "are you sure?" page, or why there is none; null: not ours. */
export async function twoStepStep(
  deps: TwoStepDeps,
  userId: string,
  query: URLSearchParams,
): Promise<AccountStep | MessageKey | null> {
  if (query.get('step') !== 'disable_totp' || !deps.basicEnabled) return null;
  const { totp } = await deps.secondFactors.status(userId);
  if (totp === 'none') return 'totp_not_enabled';
  return {
    kind: 'disable_totp',
    refused: totp === 'confirmed' && (await totpOffRefused(deps, userId)),
    required: deps.secondFactor === 'required',
  };
}

/** The two-step section's actions: turn the TOTP off (after asking), new recovery codes. */
export async function twoStepAction(
  { deps, form, live, who }: ActionContext,
  action: string,
): Promise<ActionOutcome | null> {
  if (!deps.basicEnabled) return null;
  const { user } = live;
  if (action === 'disable_totp') {
    if (form.get('confirm') !== 'yes')
      return { kind: 'ask', location: `${deps.prefix}/account?step=disable_totp` };
    const { totp } = await deps.secondFactors.status(user.id);
    if (totp === 'none') return back('totp_not_enabled');
    // A pending set-up may always be dropped; a working TOTP only when a passkey can replace it.
    if (totp === 'confirmed' && (await totpOffRefused(deps, user.id))) return back('totp_required');
    await deps.secondFactors.disable(user.id);
    await deps.audit.record({ event: 'account.totp_disabled' }, who);
    return back('totp_disabled');
  }

  if (action === 'regenerate_recovery_codes') {
    const result = await deps.secondFactors.regenerateRecoveryCodes(user.id);
    if (!result.ok) return back('totp_not_enabled');
    await deps.audit.record(
      {
        event: 'account.recovery_codes_regenerated',
        facts: { codes: result.recoveryCodes.length },
      },
      who,
    );
    // Answered directly, like a new token: the codes are on this page once (no-store) and in
    // no URL, Location header or log.
    const state = { message: null, issued: null, draft: null, recoveryCodes: result.recoveryCodes };
    return { kind: 'render', state };
  }
  return null;
}
