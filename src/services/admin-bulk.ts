import type { User } from '../ports/store.js';
import type { AdminDeps } from './admin.js';
import { logAdminAction, logSessionsEnded } from './admin-log.js';
import type { AdminOutcome, Notice } from './admin-outcome.js';
import type { AuditSource } from './audit.js';

export type BulkAction =
  | 'login_url'
  | 'deactivate'
  | 'activate'
  | 'logout_everywhere'
  | 'make_admin'
  | 'unmake_admin';

/** The actions offered for ticked users, in menu order. */
export const BULK_ACTIONS: readonly { id: BulkAction; label: string }[] = [
  { id: 'login_url', label: 'Get email login URL' },
  { id: 'deactivate', label: 'Deactivate (ends their sessions)' },
  { id: 'activate', label: 'Activate' },
  { id: 'logout_everywhere', label: 'Log out everywhere' },
  { id: 'make_admin', label: 'Make admin' },
  { id: 'unmake_admin', label: 'Remove admin' },
];

export function isBulkAction(value: string): value is BulkAction {
  return BULK_ACTIONS.some((a) => a.id === value);
}

type BulkDeps = Pick<
  AdminDeps,
  'store' | 'sessions' | 'users' | 'loginLinks' | 'audit' | 'appTokens'
>;

const MAX_TICKED = 200;

/** One action on each ticked user (at most MAX_TICKED), with a notice each. */
export async function applyBulk(
  deps: BulkDeps,
  actor: User,
  action: BulkAction,
  ids: readonly string[],
  source: AuditSource | null = null,
): Promise<AdminOutcome> {
  const outcome: AdminOutcome = { notices: [], links: [] };
  const unique = [...new Set(ids)].slice(0, MAX_TICKED);
  if (unique.length === 0) {
    outcome.notices.push({ kind: 'error', text: 'Tick at least one user first.' });
    return outcome;
  }
  for (const id of unique) {
    const user = await deps.store.getUser(id);
    if (!user) {
      outcome.notices.push({ kind: 'error', text: 'One of the ticked users no longer exists.' });
      continue;
    }
    outcome.notices.push(...(await applyOne(deps, actor, action, user, outcome, source)));
  }
  return outcome;
}

async function applyOne(
  deps: BulkDeps,
  actor: User,
  action: BulkAction,
  user: User,
  outcome: AdminOutcome,
  source: AuditSource | null,
): Promise<Notice[]> {
  const { store, sessions, loginLinks, audit } = deps;
  const self = user.id === actor.id;
  switch (action) {
    case 'login_url': {
      if (!user.active) {
        return [
          {
            kind: 'error',
            text: `${user.email} is deactivated: activate them before handing out a link.`,
          },
        ];
      }
      outcome.links.push({ email: user.email, url: await loginLinks.issue(user.email, '/') });
      await logAdminAction(audit, actor, 'login_url_issued', user, source);
      await audit.record({ event: 'link.issued', via: 'admin' }, { actor, subject: user, source });
      return [];
    }
    case 'deactivate': {
      if (self) return [{ kind: 'error', text: 'You cannot deactivate yourself.' }];
      if (!user.active) return [{ kind: 'info', text: `${user.email} was already deactivated.` }];
      await store.updateUser({ ...user, active: false });
      const ended = await sessions.revokeUser(user.id);
      await sessions.refreshUser(user.id);
      // This instance refuses their tokens at once; others re-read within 1 s (their cache).
      deps.appTokens?.forgetUser(user.id);
      await logAdminAction(audit, actor, 'deactivate', user, source, {
        sessions_ended: ended.length,
      });
      await logSessionsEnded(audit, actor, user, 'deactivated', ended.length, source);
      return [
        {
          kind: 'info',
          text: `Deactivated ${user.email}; ended ${ended.length} session${ended.length === 1 ? '' : 's'}.`,
        },
      ];
    }
    case 'activate': {
      if (user.active) return [{ kind: 'info', text: `${user.email} was already active.` }];
      await store.updateUser({ ...user, active: true });
      await sessions.refreshUser(user.id);
      await logAdminAction(audit, actor, 'activate', user, source);
      return [{ kind: 'info', text: `Activated ${user.email}.` }];
    }
    case 'logout_everywhere': {
      const ended = await sessions.revokeUser(user.id);
      await logAdminAction(audit, actor, 'logout_everywhere', user, source, {
        sessions_ended: ended.length,
      });
      await logSessionsEnded(audit, actor, user, 'admin', ended.length, source);
      return [
        {
          kind: 'info',
          text: `Signed ${user.email} out everywhere (${ended.length} session${ended.length === 1 ? '' : 's'}).`,
        },
      ];
    }
    case 'make_admin': {
      if (user.admin) return [{ kind: 'info', text: `${user.email} was already an admin.` }];
      await store.updateUser({ ...user, admin: true });
      await sessions.refreshUser(user.id);
      await logAdminAction(audit, actor, 'make_admin', user, source);
      return [{ kind: 'info', text: `${user.email} is now an admin.` }];
    }
    case 'unmake_admin': {
      if (self) return [{ kind: 'error', text: 'You cannot remove your own admin rights.' }];
      const notices: Notice[] = [];
      if (user.admin) {
        await store.updateUser({ ...user, admin: false });
        await sessions.refreshUser(user.id);
        await logAdminAction(audit, actor, 'unmake_admin', user, source);
        notices.push({ kind: 'info', text: `${user.email} is no longer an admin here.` });
      }
      if (deps.users.isAdmin({ ...user, admin: false })) {
        notices.push({
          kind: 'error',
          text: `${user.email} is an admin through the config (admin.emails or admin.groups); change it there.`,
        });
      } else if (!user.admin) {
        notices.push({ kind: 'info', text: `${user.email} was not an admin.` });
      }
      return notices;
    }
  }
}
