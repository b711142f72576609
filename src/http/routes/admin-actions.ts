import type { User } from '../../ports/store.js';
import type { AdminService } from '../../services/admin.js';
import { type GroupRefusal, groupRefusalText } from '../../services/admin-groups.js';
import type { AuditSource } from '../../services/audit.js';
import type { FormError } from '../views/admin-common.js';
import type { ExpiryChoice } from '../views/admin-user.js';
import { type FactorDeps, runFactorAction } from './admin-factor-actions.js';
import { type ActionResult, error, info, none, plural, type Screen } from './admin-outcome.js';

const DAY = 86_400_000;

/** The actions on groups, usernames and app tokens (admin.ts keeps the older ones). */
export const PANEL_ACTIONS = [
  'create_group',
  'rename_group',
  'delete_group',
  'add_member',
  'remove_member',
  'set_username',
  'create_token',
  'revoke_token',
  'remove_passkey',
  'remove_all_passkeys',
  'reset_second_factor',
] as const;
export type PanelAction = (typeof PANEL_ACTIONS)[number];

export function isPanelAction(value: string): value is PanelAction {
  return (PANEL_ACTIONS as readonly string[]).includes(value);
}

/** The expiries offered for a new token: the usual ones up to `tokens.max_lifetime`, then it. */
export function expiryChoices(maxLifetimeMs: number): ExpiryChoice[] {
  const choices: ExpiryChoice[] = [7, 30, 90]
    .filter((days) => days * DAY < maxLifetimeMs)
    .map((days) => ({ value: `${days}d`, label: `${days} days` }));
  const maxDays = Math.floor(maxLifetimeMs / DAY);
  choices.push({
    value: 'max',
    label:
      maxDays >= 1
        ? `${maxDays} day${maxDays === 1 ? '' : 's'} (the longest allowed)`
        : 'the longest allowed',
  });
  return choices;
}

function expiryMs(value: string, maxLifetimeMs: number): number | undefined {
  if (value === 'max') return maxLifetimeMs;
  const match = /^(\d{1,4})d$/.exec(value);
  // Anything else becomes an expiry the service refuses (no silent default).
  return match ? Number(match[1]) * DAY : Number.NaN;
}

function refused(
  screen: Screen,
  refusal: GroupRefusal,
  field: FormError['field'] | null,
  value: string,
): ActionResult {
  const text = groupRefusalText(refusal);
  // A refusal about the typed text goes under the field; anything else on top.
  if (field && (refusal.reason === 'invalid_name' || refusal.reason === 'name_taken'))
    return { screen, outcome: none(), formError: { field, value, text } };
  return { screen, outcome: error(text) };
}

export interface PanelActionInput {
  admin: Pick<AdminService, 'groups' | 'accounts' | 'findUser'>;
  factors: FactorDeps;
  actor: User;
  form: URLSearchParams;
  source: AuditSource | null;
  tokenMaxLifetimeMs: number;
}

/** Runs one of PANEL_ACTIONS; refusals come back as notices or a field's error, never thrown. */
export async function runPanelAction(
  action: PanelAction,
  input: PanelActionInput,
): Promise<ActionResult> {
  const { admin, actor, form, source } = input;
  const field = (name: string) => (form.get(name) ?? '').slice(0, 1024);
  const groupId = field('group');
  const userId = field('user');
  const view = field('view');
  const groupScreen: Screen = { kind: 'group', groupId, confirmDelete: false };
  const userScreen: Screen & { kind: 'user' } = { kind: 'user', userId };
  switch (action) {
    case 'create_group': {
      const name = field('name');
      const result = await admin.groups.createGroup(actor, name, source);
      if (!result.ok) return refused({ kind: 'groups' }, result, 'group_name', name);
      return {
        screen: { kind: 'group', groupId: result.group.id, confirmDelete: false },
        outcome: info(`Created the group ${result.group.displayName}. Add its members below.`),
      };
    }
    case 'rename_group': {
      const name = field('name');
      const result = await admin.groups.renameGroup(actor, groupId, name, source);
      if (!result.ok) return refused(groupScreen, result, 'rename', name);
      return {
        screen: groupScreen,
        outcome: result.changed
          ? info(`Renamed the group to ${result.group.displayName}.`)
          : info('The group already has that name.'),
      };
    }
    case 'delete_group': {
      // Only the confirmation page's form carries `confirm`: anything else asks first.
      if (field('confirm') !== 'yes')
        return { screen: { ...groupScreen, confirmDelete: true }, outcome: none() };
      const result = await admin.groups.deleteGroup(actor, groupId, source);
      if (!result.ok) return refused(groupScreen, result, null, '');
      return {
        screen: { kind: 'groups' },
        outcome: info(
          `Deleted the group ${result.name}; ${plural(result.members, 'member')} no longer ${result.members === 1 ? 'has' : 'have'} it.`,
        ),
      };
    }
    case 'add_member': {
      const back = view ? userScreen : groupScreen;
      const typed = field('member');
      const user = userId ? { id: userId } : await admin.findUser(typed);
      if (!user)
        return {
          screen: back,
          outcome: none(),
          formError: {
            field: 'member',
            value: typed,
            text: 'Nobody has that email address or username.',
          },
        };
      const result = await admin.groups.addMember(actor, groupId, user.id, source);
      if (!result.ok) return refused(back, result, null, '');
      const group = result.group.displayName;
      const who = 'email' in user ? user.email : null;
      return {
        screen: back,
        outcome: info(
          who
            ? `${who} ${result.changed ? 'is now' : 'was already'} in ${group}.`
            : `${result.changed ? 'Added to' : 'Already in'} ${group}.`,
        ),
      };
    }
    case 'remove_member': {
      const back = view ? userScreen : groupScreen;
      const result = await admin.groups.removeMember(actor, groupId, userId, source);
      if (!result.ok) return refused(back, result, null, '');
      return {
        screen: back,
        outcome: info(
          result.changed
            ? `Removed from ${result.group.displayName}.`
            : `Was not in ${result.group.displayName}.`,
        ),
      };
    }
    case 'set_username': {
      const typed = field('username');
      const result = await admin.accounts.setUsername(actor, userId, typed, source);
      if (!result.ok) {
        if (result.reason === 'missing')
          return { screen: userScreen, outcome: error(result.message) };
        return {
          screen: userScreen,
          outcome: none(),
          formError: { field: 'username', value: typed, text: result.message },
        };
      }
      return {
        screen: userScreen,
        outcome: info(
          result.changed
            ? `The username is now ${result.user.username}; checks carry it from the next request.`
            : `The username already is ${result.user.username}.`,
        ),
      };
    }
    case 'create_token': {
      const name = field('name');
      const expires = expiryMs(field('expires'), input.tokenMaxLifetimeMs);
      const result = await admin.accounts.createToken(actor, userId, name, expires, source);
      if (!result.ok) {
        if (result.reason === 'bad_name')
          return {
            screen: userScreen,
            outcome: none(),
            formError: {
              field: 'token_name',
              value: name,
              text: `Not created: ${result.message}.`,
            },
          };
        return { screen: userScreen, outcome: error(`Not created: ${result.message}.`) };
      }
      return {
        screen: userScreen,
        outcome: none(),
        issuedToken: {
          name: result.record.name,
          token: result.token,
          expiresAt: result.record.expiresAt,
        },
      };
    }
    case 'remove_passkey':
    case 'remove_all_passkeys':
    case 'reset_second_factor':
      return runFactorAction(action, input, userScreen);
    case 'revoke_token': {
      const result = await admin.accounts.revokeToken(actor, userId, field('token'), source);
      if (!result.ok) return { screen: userScreen, outcome: error(result.message) };
      return {
        screen: userScreen,
        outcome: info(`Revoked the token ${result.token.name}; it is refused within a second.`),
      };
    }
  }
}
