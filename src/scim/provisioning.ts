import { GroupProvisioning, type GroupProvisioningDeps } from './group-provisioning.js';
import { UserProvisioning, type UserProvisioningDeps } from './user-provisioning.js';
import { WriteQueue, type WriteQueueDeps } from './write-queue.js';

export type { AuditRecorder } from './audit-trail.js';
export type { UserSessions } from './user-provisioning.js';

/** Every port SCIM provisioning writes through. */
export interface ProvisioningDeps
  extends Omit<UserProvisioningDeps, 'writes'>,
    GroupProvisioningDeps,
    WriteQueueDeps {}

/**
 * What SCIM changes, apart from HTTP. Writes run one at a time on this instance; across
 * instances a group is written with compare-and-set on its version and the whole
 * read-modify-write is retried on a conflict (`WriteQueue`). Every change is an audit event
 * (`scim.*`, `actor: "scim"`), like the admin panel's; each writing method takes the request's
 * `AuditSource` for it.
 */
export class Provisioning {
  readonly writes: WriteQueue;
  readonly users: UserProvisioning;
  readonly groups: GroupProvisioning;

  constructor(deps: ProvisioningDeps) {
    this.writes = new WriteQueue(deps);
    this.users = new UserProvisioning({ ...deps, writes: this.writes });
    this.groups = new GroupProvisioning(deps);
  }
}
