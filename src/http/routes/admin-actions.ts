import type { User, UserDirectory } from '../../ports/store.js';
import type { AdminOutcome, AdminService } from '../../services/admin.js';
import { type GroupRefusal, groupRefusalText } from '../../services/admin-groups.js';
import type { AuditLog, AuditSource } from '../../services/audit.js';
import type { PasskeyService } from '../../services/passkeys.js';
import type { SecondFactorService } from '../../services/second-factor.js';
import type { FormError } from '../views/admin-common.js';
import type { AdminConfirm, ExpiryChoice, UserPageView } from '../views/admin-user.js';

const DAY = 86_400_000;

/** Which page of the panel to show after an action. */
export type Screen =
  | { kind: 'list' }
  | { kind: 'user'; userId: string; confirm?: AdminConfirm }
  | { kind: 'groups' }
  | { kind: 'group'; groupId: string; confirmDelete: boolean };

/** What an action leaves for the page it shows next. */
export interface ActionResult {
  screen: Screen;
  outcome: AdminOutcome;
  formError?: FormError;
  issuedToken?: { name: string; token: string; expiresAt: number | null };
}

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

const info = (text: string): AdminOutcome => ({ notices: [{ kind: 'info', text }], links: [] });
const error = (text: string): AdminOutcome => ({ notices: [{ kind: 'error', text }], links: [] });
const none = (): AdminOutcome => ({ notices: [], links: [] });
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

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

/** A user's second factors as the panel shows and removes them. */
export interface FactorDeps {
  passkeys: Pick<PasskeyService, 'list' | 'remove' | 'removeAll'>;
  secondFactors: Pick<SecondFactorService, 'status' | 'disable'>;
  users: Pick<UserDirectory, 'getUser'>;
  audit: Pick<AuditLog, 'record'>;
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

/**
 * Removing a user's passkeys or resetting their TOTP. Each asks first: only the confirmation's
 * form carries `confirm=yes`. A passkey id is removed only when it is this user's.
 */
async function runFactorAction(
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

/** What a user's page is read from. */
export interface UserPageDeps {
  admin: Pick<AdminService, 'userDetail' | 'groups' | 'accounts'>;
  factors: Pick<FactorDeps, 'passkeys' | 'secondFactors'>;
  tokenMaxLifetimeMs: number;
  passwords: boolean;
  now: () => number;
}

/** What the last action leaves on the page besides notices. */
export interface Extras {
  formError?: FormError;
  issuedToken?: ActionResult['issuedToken'];
  /** A question the last action asks before it changes anything. */
  confirm?: AdminConfirm;
}

/** Who is looking: their own session is marked "this device"; how `oidc` sessions are named. */
export interface Viewer {
  currentSessionId: string;
  oidcName: string;
}

export async function userPage(
  deps: UserPageDeps,
  userId: string,
  extras: Extras,
  viewer: Viewer,
): Promise<UserPageView | null> {
  const detail = await deps.admin.userDetail(userId);
  if (!detail) return null;
  const groups = (await deps.admin.groups.groupsOfUser(userId)) ?? [];
  const all = await deps.admin.groups.listGroups();
  const { accounts } = deps.admin;
  const [passkeys, twoStep] = await Promise.all([
    deps.factors.passkeys.list(userId),
    deps.factors.secondFactors.status(userId),
  ]);
  return {
    passkeys,
    twoStep,
    confirm: extras.confirm ?? null,
    detail,
    groups,
    addable: all.filter((g) => g.editable && g.id && !groups.some((mine) => mine.id === g.id)),
    tokens: accounts.tokensEnabled ? await accounts.listTokens(userId) : null,
    issuedToken: extras.issuedToken ?? null,
    expiryChoices: expiryChoices(deps.tokenMaxLifetimeMs),
    now: deps.now(),
    passwords: deps.passwords,
    currentSessionId: viewer.currentSessionId,
    oidcName: viewer.oidcName,
  };
}
