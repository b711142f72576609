import type { PasskeyRecord } from '../../../ports/passkeys.js';
import type { AccountStep, PasskeyRow } from '../../views/account-page.js';
import type { AccountRouteDeps } from '../account.js';
import type { MessageKey } from './messages.js';
import { type ActionContext, type ActionOutcome, back } from './outcome.js';

type PasskeyDeps = Pick<AccountRouteDeps, 'passkeys' | 'passkeyEnabled'>;

function passkeyRow(record: PasskeyRecord): PasskeyRow {
  const { id, name, createdAt, lastUsedAt, backedUp } = record;
  return { id, name, createdAt, lastUsedAt, backedUp };
}

/** The passkeys section's rows: null when the section is not shown. */
export async function passkeyRows(deps: PasskeyDeps, userId: string): Promise<PasskeyRow[] | null> {
  const list = await deps.passkeys.list(userId);
  // A user keeps seeing (and may remove) passkeys made while the method was enabled.
  if (!deps.passkeyEnabled && list.length === 0) return null;
  return list.map(passkeyRow);
}

/** One of the user's own passkeys by id, or null (another user's id finds nothing). */
async function ownPasskey(
  deps: PasskeyDeps,
  userId: string,
  id: string,
): Promise<PasskeyRecord | null> {
  if (id === '') return null;
  return (await deps.passkeys.list(userId)).find((p) => p.id === id) ?? null;
}

/** GET ?step=rename_passkey|remove_passkey: the step's page, or why there is none; null: not ours. */
export async function passkeyStep(
  deps: PasskeyDeps,
  userId: string,
  query: URLSearchParams,
): Promise<AccountStep | MessageKey | null> {
  const step = query.get('step');
  if (step !== 'rename_passkey' && step !== 'remove_passkey') return null;
  const found = await ownPasskey(deps, userId, (query.get('passkey') ?? '').slice(0, 2048));
  if (!found) return 'passkey_unknown';
  return { kind: step, passkey: passkeyRow(found) };
}

/** The passkeys section's actions: rename one, remove one (after asking). */
export async function passkeyAction(
  { deps, form, live, who }: ActionContext,
  action: string,
): Promise<ActionOutcome | null> {
  const { user } = live;
  if (action === 'rename_passkey') {
    const found = await ownPasskey(deps, user.id, (form.get('passkey') ?? '').slice(0, 2048));
    if (!found || !(await deps.passkeys.rename(user.id, found.id, form.get('name') ?? '')))
      return back('passkey_unknown');
    const renamed = await ownPasskey(deps, user.id, found.id);
    await deps.audit.record(
      {
        event: 'account.passkey_renamed',
        facts: { passkey_id: found.id, from: found.name, to: renamed?.name ?? '' },
      },
      who,
    );
    return back('passkey_renamed');
  }

  if (action === 'remove_passkey') {
    const id = (form.get('passkey') ?? '').slice(0, 2048);
    // Only the confirmation page's form carries `confirm`: anything else asks first.
    if (form.get('confirm') !== 'yes')
      return {
        kind: 'ask',
        location: `${deps.prefix}/account?step=remove_passkey&passkey=${encodeURIComponent(id)}`,
      };
    // `remove` takes the owner: another user's credential id removes nothing.
    const removed = id === '' ? null : await deps.passkeys.remove(user.id, id);
    if (!removed) return back('passkey_unknown');
    await deps.audit.record(
      { event: 'account.passkey_removed', facts: { passkey_id: removed.id, name: removed.name } },
      who,
    );
    return back('passkey_removed');
  }
  return null;
}
