import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import type { AccessPolicy } from '../core/decide.js';
import type { Identity } from '../core/identity.js';
import type { HeaderNames } from '../core/identity-headers.js';
import type { Mailer } from '../mail/mailer.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../ports/store.js';
import type { AdminService } from '../services/admin.js';
import type { AuditLog } from '../services/audit.js';
import type { LoginLinks } from '../services/login-links.js';
import type { SessionService } from '../services/sessions.js';
import type { UserService } from '../services/users.js';
import type { LoginMethod } from './login/method.js';

/** What the HTTP edge needs, built once by the composition root. */
export interface AppContext {
  config: Config;
  store: Store;
  sessions: SessionService;
  users: UserService;
  loginLinks: LoginLinks;
  clock: Clock;
  logger: Logger;
  policy: AccessPolicy;
  anonymousUser: Identity;
  headerNames: HeaderNames;
  /** Public base of portcullis' own pages: origin + path_prefix, no trailing slash. */
  baseUrl: string;
  productName: string;
  /** Prometheus counters; null when `metrics.listen` is unset. */
  metrics: Metrics | null;
  /** Sends magic-link mails (`auth.magic_link.mailer`). */
  mailer: Mailer;
  /** Sign-ins, sessions, links, admin and SCIM changes: the audit logger and per-user trail. */
  audit: AuditLog;
  /** The admin panel's operations (`/auth/admin`). */
  admin: AdminService;
  /** The enabled login methods, in `auth.enabled_auth` order. */
  loginMethods: readonly LoginMethod[];
}
