import { type Clock, systemClock } from '../core/clock.js';
import { normalizeEmail } from '../core/email.js';
import type { AuditEntry, Session, Store, User } from '../ports/store.js';
import { AdminAccounts } from './admin-accounts.js';
import { applyBulk, type BulkAction } from './admin-bulk.js';
import { AdminGroups } from './admin-groups.js';
import { logAdminAction, logSessionsEnded } from './admin-log.js';
import type { AdminOutcome } from './admin-outcome.js';
import type { AppTokenService } from './app-tokens.js';
import type { AuditLog, AuditSource } from './audit.js';
import type { LoginLinks } from './login-links.js';
import { type StaticUser, setUserPassword } from './passwords.js';
import type { SessionService } from './sessions.js';
import type { UserService } from './users.js';

// The bulk actions live in admin-bulk.ts, the outcome types in admin-outcome.ts.
export { BULK_ACTIONS, type BulkAction, isBulkAction } from './admin-bulk.js';
export type { AdminOutcome, IssuedLink, Notice } from './admin-outcome.js';

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

  /** One action on each ticked user (admin-bulk.ts). */
  bulk(
    actor: User,
    action: BulkAction,
    ids: readonly string[],
    source: AuditSource | null = null,
  ): Promise<AdminOutcome> {
    return applyBulk(this.deps, actor, action, ids, source);
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
    await logAdminAction(this.deps.audit, actor, 'add_user', user, source);
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
    await logAdminAction(
      this.deps.audit,
      actor,
      remove ? 'remove_password' : 'set_password',
      user,
      source,
    );
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
    await logAdminAction(this.deps.audit, actor, 'end_session', user, source, {
      session_created: new Date(session.createdAt).toISOString(),
      session_ip: session.ip,
    });
    await logSessionsEnded(this.deps.audit, actor, user, 'admin', 1, source);
    return { notices: [{ kind: 'info', text: `Ended one session of ${user.email}.` }], links: [] };
  }
}
