import { isObject } from './attribute-path.js';
import { listResponse, resourceTypes, schemas, serviceProviderConfig } from './discovery.js';
import { notFound } from './errors.js';
import { groupKind } from './group-kind.js';
import { Provisioning, type ProvisioningDeps } from './provisioning.js';
import { type ResourceService, Resources } from './resource-service.js';
import type { Json } from './resources.js';
import { userKind } from './user-kind.js';

export type { ListQuery } from './list-page.js';
export { GROUP_PATCH, USER_PATCH } from './patch-targets.js';
export { type Projection, projection } from './projection.js';
export type { AuditRecorder, UserSessions } from './provisioning.js';
export type { Created, ResourceService } from './resource-service.js';

export interface ScimServiceDeps extends ProvisioningDeps {
  /** The absolute `/scim/v2` URL resources name themselves under (`meta.location`). */
  base: string;
}

export type DiscoveryKind = 'serviceproviderconfig' | 'resourcetypes' | 'schemas';

/**
 * SCIM 2.0 (RFC 7644) apart from HTTP: list, filter, read, create, replace, PATCH and delete of
 * Users and Groups, and the discovery documents. Takes parsed bodies, ids and query strings;
 * answers SCIM JSON or throws `ScimError`. Uniqueness, email protections, membership mirroring
 * and the audit trail are `Provisioning`'s.
 */
export class ScimService {
  readonly users: ResourceService;
  readonly groups: ResourceService;
  private readonly base: string;

  constructor(deps: ScimServiceDeps) {
    const base = deps.base;
    this.base = base;
    const provisioning = new Provisioning(deps);
    const { writes } = provisioning;
    this.users = new Resources(userKind(deps.users, provisioning.users, base), writes, base);
    this.groups = new Resources(groupKind(deps.groups, provisioning.groups, base), writes, base);
  }

  /** `/ServiceProviderConfig`, `/ResourceTypes[/{id}]`, `/Schemas[/{id}]` (RFC 7644 §4). */
  discover(kind: DiscoveryKind, id: string | null): Json {
    const base = this.base;
    if (kind === 'serviceproviderconfig') {
      if (id !== null) throw notFound('Resource');
      return serviceProviderConfig(base);
    }
    const list = kind === 'resourcetypes' ? resourceTypes(base) : schemas(base);
    if (id === null) return listResponse(list, list.length, 1);
    const one = list.find(
      (item) =>
        isObject(item) && typeof item.id === 'string' && item.id.toLowerCase() === id.toLowerCase(),
    );
    if (!one) throw notFound(kind === 'resourcetypes' ? `ResourceType ${id}` : `Schema ${id}`);
    return one;
  }
}
