import type { AdminService } from '../../services/admin.js';
import type { FormError } from '../views/admin-common.js';
import type { AdminConfirm, UserPageView } from '../views/admin-user.js';
import { expiryChoices } from './admin-actions.js';
import type { FactorDeps } from './admin-factor-actions.js';
import type { ActionResult } from './admin-outcome.js';

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
