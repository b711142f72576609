import type { AppTokenScope } from '../../../core/app-token-scope.js';
import { describeDuration } from '../../../mail/describe-duration.js';
import type { AppTokenInfo } from '../../../services/app-tokens.js';
import type { ExpiryChoice, TokenRow } from '../../views/account-page.js';
import { type ActionContext, type ActionOutcome, back } from './outcome.js';

const DAY = 86_400_000;
const STANDARD_DAYS = [7, 30, 90, 180, 365];
const DEFAULT_DAYS = 90;

/** The expiries the form offers: the usual ones up to `tokens.max_lifetime`, and that itself. */
export function expiryChoices(maxLifetimeMs: number): {
  choices: (ExpiryChoice & { ms: number })[];
  defaultValue: string;
} {
  const choices = STANDARD_DAYS.filter((days) => days * DAY <= maxLifetimeMs).map((days) => ({
    value: `${days}d`,
    label: `${days} days`,
    ms: days * DAY,
  }));
  if (!choices.some((c) => c.ms === maxLifetimeMs))
    choices.push({ value: 'max', label: describeDuration(maxLifetimeMs), ms: maxLifetimeMs });
  const preferred = choices.find((c) => c.value === `${DEFAULT_DAYS}d`);
  return { choices, defaultValue: (preferred ?? (choices.at(-1) as ExpiryChoice)).value };
}

function describeScope(scope: AppTokenScope | null): string | null {
  if (scope === null) return null;
  const parts = [scope.hosts, scope.paths, scope.methods]
    .filter((list): list is string[] => list !== undefined && list.length > 0)
    .map((list) => list.join(', '));
  return parts.length > 0 ? parts.join(' ') : null;
}

export function tokenRow(token: AppTokenInfo): TokenRow {
  const { id, name, createdAt, lastUsedAt, expiresAt } = token;
  return { id, name, createdAt, lastUsedAt, expiresAt, scope: describeScope(token.scope) };
}

/**
 * The tokens section's actions: revoke one, create one. A new token is answered on the page
 * itself, shown once, so the secret never travels in a URL, a Location header or a log.
 */
export async function tokenAction(
  { deps, form, live }: ActionContext,
  action: string,
): Promise<ActionOutcome | null> {
  const tokens = deps.appTokens;
  if (!tokens) return null;
  const { user } = live;
  if (action === 'revoke_token') {
    const revoked = await tokens.revoke(form.get('token') ?? '', { userId: user.id, admin: false });
    return back(revoked ? 'token_revoked' : 'token_unknown');
  }

  if (action === 'create_token') {
    const name = (form.get('name') ?? '').slice(0, 200);
    const expires = form.get('expires') ?? '';
    const choice = expiryChoices(deps.maxTokenLifetimeMs).choices.find((c) => c.value === expires);
    if (!choice) {
      const message = {
        kind: 'error',
        text: 'Choose when the token expires from the list.',
      } as const;
      return {
        kind: 'render',
        state: { message, issued: null, draft: { name, expiry: '' } },
        status: 400,
      };
    }
    const created = await tokens.create(user.id, name, { expiresInMs: choice.ms });
    if (!created.ok) {
      const message = { kind: 'error', text: `No token was created: ${created.message}.` } as const;
      const draft = { name, expiry: choice.value };
      return { kind: 'render', state: { message, issued: null, draft }, status: 400 };
    }
    const issued = { name: created.record.name, token: created.token };
    return { kind: 'render', state: { message: null, issued, draft: null } };
  }
  return null;
}
