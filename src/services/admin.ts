import { type Clock, systemClock } from '../core/clock.js';
import { normalizeEmail } from '../core/email.js';
import type { AuditEntry, Session, Store, User } from '../ports/store.js';
import { AdminAccounts } from './admin-accounts.js';
import { AdminGroups } from './admin-groups.js';
import type { AppTokenService } from './app-tokens.js';
import {
  type AdminAction,
  type AuditFacts,
  type AuditLog,
  type AuditSource,
  recordSessionsEnded,
  type SessionEndReason,
} from './audit.js';
import type { LoginLinks } from './login-links.js';
import { type StaticUser, setUserPassword } from './passwords.js';
import type { SessionService } from './sessions.js';
import type { UserService } from './users.js';

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

export interface Notice {
  kind: 'info' | 'error';
  text: string;
}

export interface IssuedLink {
  email: string;
  url: string;
}

/** What an admin action did, for the page to show at the top. */
export interface AdminOutcome {
  notices: Notice[];
  links: IssuedLink[];
}

export interface UserRow {
  user: User;
  admin: boolean;
  /** Admin through `admin.emails` / `admin.groups`: only the config can change it. */
  adminByConfig: boolean;
  sessions: number;
}

export interface UserDetail {
  row: UserRow;
  sessions: Session[];
  /** Newest first; null when the store could not give it just now. */
  activity: AuditEntry[] | null;
}

export interface UserList {
  rows: UserRow[];
  total: number;
  page: number;
  pages: number;
  perPage: number;
}

export interface AdminDeps {
  store: Store;
  sessions: SessionService;
  users: UserService;
  loginLinks: LoginLinks;
  audit: AuditLog;
  /** For group records' times; the system clock unless given. */
  clock?: Clock;
  /** App tokens (null or absent when `tokens.enabled` is false). */
  appTokens?: Pick<AppTokenService, 'create' | 'list' | 'revoke' | 'forgetUser'> | null;
}

const MAX_TICKED = 200;
/** Entries of the trail the user's page shows. */
const RECENT_ACTIVITY = 50;

/**
 * What the admin panel can do, apart from HTTP. Every change is an audit event (`admin.*`)
 * naming who did what to whom, in the log and the user's trail; login URLs never reach either.
 */
export class AdminService {
  /** Groups: list, create, rename, delete, members (admin-groups.ts). */
  readonly groups: AdminGroups;
  /** A user's username and app tokens (admin-accounts.ts). */
  readonly accounts: AdminAccounts;

  constructor(private readonly deps: AdminDeps) {
    this.accounts = new AdminAccounts({
      store: deps.store,
      users: deps.users,
      sessions: deps.sessions,
      appTokens: deps.appTokens ?? null,
      audit: deps.audit,
    });
    this.groups = new AdminGroups({
      store: deps.store,
      sessions: deps.sessions,
      audit: deps.audit,
      clock: deps.clock ?? systemClock,
      isAdmin: (user) => deps.users.isAdmin(user),
    });
  }

  private async row(user: User): Promise<UserRow> {
    const { users, store } = this.deps;
    return {
      user,
      admin: users.isAdmin(user),
      adminByConfig: users.isAdmin({ ...user, admin: false }),
      sessions: (await store.listUserSessions(user.id)).length,
    };
  }

  async listUsers(search: string, page: number, perPage = 25): Promise<UserList> {
    const wanted = Math.max(1, Math.floor(page) || 1);
    const query = search.trim().slice(0, 200);
    let result = await this.deps.store.listUsers({
      search: query || undefined,
      offset: (wanted - 1) * perPage,
      limit: perPage,
    });
    const pages = Math.max(1, Math.ceil(result.total / perPage));
    let current = wanted;
    if (wanted > pages) {
      current = pages;
      result = await this.deps.store.listUsers({
        search: query || undefined,
        offset: (pages - 1) * perPage,
        limit: perPage,
      });
    }
    return {
      rows: await Promise.all(result.users.map((u) => this.row(u))),
      total: result.total,
      page: current,
      pages,
      perPage,
    };
  }

  /**
   * The user an admin means by what they typed in "Add a member": an email address (any case),
   * else a username (compared ignoring case).
   */
  async findUser(typed: string): Promise<User | null> {
    const text = typed.trim().slice(0, 320);
    if (text === '') return null;
    const email = normalizeEmail(text);
    const byEmail = email ? await this.deps.store.getUserByEmail(email) : null;
    return byEmail ?? (await this.deps.store.getUserByUsername(text.normalize('NFKC')));
  }

  async userDetail(id: string): Promise<UserDetail | null> {
    const user = await this.deps.store.getUser(id);
    if (!user) return null;
    const sessions = await this.deps.store.listUserSessions(id);
    const activity = await this.deps.audit.recent(id, RECENT_ACTIVITY);
    return { row: await this.row(user), sessions, activity };
  }

  private async log(
    actor: User,
    action: AdminAction,
    target: User,
    source: AuditSource | null,
    facts: AuditFacts = {},
  ): Promise<void> {
    await this.deps.audit.record(
      { event: `admin.${action}`, facts },
      { actor, subject: target, source },
    );
  }

  private ended(
    actor: User,
    target: User,
    reason: SessionEndReason,
    count: number,
    source: AuditSource | null,
  ): Promise<void> {
    return recordSessionsEnded(this.deps.audit, reason, count, { actor, subject: target, source });
  }

  async bulk(
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
      const user = await this.deps.store.getUser(id);
      if (!user) {
        outcome.notices.push({ kind: 'error', text: 'One of the ticked users no longer exists.' });
        continue;
      }
      outcome.notices.push(...(await this.applyOne(actor, action, user, outcome, source)));
    }
    return outcome;
  }

  private async applyOne(
    actor: User,
    action: BulkAction,
    user: User,
    outcome: AdminOutcome,
    source: AuditSource | null,
  ): Promise<Notice[]> {
    const { store, sessions, loginLinks } = this.deps;
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
        await this.log(actor, 'login_url_issued', user, source);
        await this.deps.audit.record(
          { event: 'link.issued', via: 'admin' },
          { actor, subject: user, source },
        );
        return [];
      }
      case 'deactivate': {
        if (self) return [{ kind: 'error', text: 'You cannot deactivate yourself.' }];
        if (!user.active) return [{ kind: 'info', text: `${user.email} was already deactivated.` }];
        await store.updateUser({ ...user, active: false });
        const ended = await sessions.revokeUser(user.id);
        await sessions.refreshUser(user.id);
        // This instance refuses their tokens at once; others re-read within 1 s (their cache).
        this.deps.appTokens?.forgetUser(user.id);
        await this.log(actor, 'deactivate', user, source, { sessions_ended: ended.length });
        await this.ended(actor, user, 'deactivated', ended.length, source);
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
        await this.log(actor, 'activate', user, source);
        return [{ kind: 'info', text: `Activated ${user.email}.` }];
      }
      case 'logout_everywhere': {
        const ended = await sessions.revokeUser(user.id);
        await this.log(actor, 'logout_everywhere', user, source, {
          sessions_ended: ended.length,
        });
        await this.ended(actor, user, 'admin', ended.length, source);
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
        await this.log(actor, 'make_admin', user, source);
        return [{ kind: 'info', text: `${user.email} is now an admin.` }];
      }
      case 'unmake_admin': {
        if (self) return [{ kind: 'error', text: 'You cannot remove your own admin rights.' }];
        const notices: Notice[] = [];
        if (user.admin) {
          await store.updateUser({ ...user, admin: false });
          await sessions.refreshUser(user.id);
          await this.log(actor, 'unmake_admin', user, source);
          notices.push({ kind: 'info', text: `${user.email} is no longer an admin here.` });
        }
        if (this.deps.users.isAdmin({ ...user, admin: false })) {
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

  async addUser(
    actor: User,
    rawEmail: string,
    rawName: string,
    source: AuditSource | null = null,
  ): Promise<AdminOutcome> {
    const email = normalizeEmail(rawEmail);
    if (!email) {
      return {
        notices: [{ kind: 'error', text: 'That is not an email address (one @, plain letters).' }],
        links: [],
      };
    }
    const existing = await this.deps.store.getUserByEmail(email);
    if (existing) {
      return { notices: [{ kind: 'info', text: `${email} already has an account.` }], links: [] };
    }
    const name = rawName.trim().slice(0, 200);
    const user = await this.deps.users.findOrCreate(email, name || undefined);
    await this.log(actor, 'add_user', user, source);
    return {
      notices: [
        {
          kind: 'info',
          text: `Added ${email}. Tick them and choose "Get email login URL" to hand them a link.`,
        },
      ],
      links: [],
    };
  }

  /** Sets (or, with an empty password, removes) a user's stored password. Never logs the password. */
  async setPassword(
    actor: User,
    userId: string,
    password: string,
    staticUsers: readonly StaticUser[],
    source: AuditSource | null = null,
  ): Promise<AdminOutcome> {
    const user = await this.deps.store.getUser(userId);
    if (!user)
      return { notices: [{ kind: 'error', text: 'That user no longer exists.' }], links: [] };
    const remove = password === '';
    const result = await setUserPassword(
      this.deps.store,
      staticUsers,
      user,
      remove ? null : password,
    );
    if (!result.ok) return { notices: [{ kind: 'error', text: result.message }], links: [] };
    await this.log(actor, remove ? 'remove_password' : 'set_password', user, source);
    const text = remove
      ? `Removed the password of ${user.email}.`
      : `Set a new password for ${user.email}. Their open sessions go on; use "Log out everywhere" to end them.`;
    return { notices: [{ kind: 'info', text }], links: [] };
  }

  async endSession(
    actor: User,
    userId: string,
    sessionId: string,
    source: AuditSource | null = null,
  ): Promise<AdminOutcome> {
    const user = await this.deps.store.getUser(userId);
    const session = await this.deps.store.getSession(sessionId);
    if (!user || !session || session.userId !== user.id) {
      return { notices: [{ kind: 'error', text: 'That session has already ended.' }], links: [] };
    }
    await this.deps.sessions.revoke(session.id);
    // The session is named by when and where it started: its id is a bearer credential's key.
    await this.log(actor, 'end_session', user, source, {
      session_created: new Date(session.createdAt).toISOString(),
      session_ip: session.ip,
    });
    await this.ended(actor, user, 'admin', 1, source);
    return { notices: [{ kind: 'info', text: `Ended one session of ${user.email}.` }], links: [] };
  }
}
