import { normalizeEmail } from '../core/email.js';
import type { Group } from '../ports/groups.js';
import type { User } from '../ports/users.js';
import type { AuditSource } from '../services/audit.js';
import { isObject, parseAttrRef } from './attribute-path.js';
import {
  listResponse,
  MAX_RESULTS,
  resourceTypes,
  schemas,
  serviceProviderConfig,
} from './discovery.js';
import { badRequest, notFound } from './errors.js';
import { type Filter, matches, parseFilter } from './filter.js';
import { applyPatch, type PatchTarget } from './patch.js';
import { Provisioning, type ProvisioningDeps } from './provisioning.js';
import {
  type GroupFields,
  groupFromScim,
  groupToScim,
  isCaseExact,
  type Json,
  type UserFields,
  userFromScim,
  userToScim,
} from './resources.js';

export type { AuditRecorder, UserSessions } from './provisioning.js';

export interface ScimServiceDeps extends ProvisioningDeps {
  /** The absolute `/scim/v2` URL resources name themselves under (`meta.location`). */
  base: string;
}

/** `filter`, `startIndex` and `count` of a list request, as sent (RFC 7644 §3.4.2). */
export interface ListQuery {
  filter: string | null;
  startIndex: string | null;
  count: string | null;
}

/** What a resource is shown as: `attributes` / `excludedAttributes` applied. */
export type Projection = (resource: Json) => Json;

export interface Created {
  resource: Json;
  location: string;
}

/** The operations every SCIM resource endpoint (`/Users`, `/Groups`) offers. */
export interface ResourceService {
  /** `Users`, `Groups`: the path segment under the base URL. */
  readonly path: string;
  list(query: ListQuery, project: Projection): Promise<Json>;
  get(id: string, project: Projection): Promise<Json>;
  create(body: unknown, project: Projection, source: AuditSource | null): Promise<Created>;
  replace(
    id: string,
    body: unknown,
    project: Projection,
    source: AuditSource | null,
  ): Promise<Json>;
  patch(id: string, body: unknown, project: Projection, source: AuditSource | null): Promise<Json>;
  remove(id: string, source: AuditSource | null): Promise<void>;
}

export type DiscoveryKind = 'serviceproviderconfig' | 'resourcetypes' | 'schemas';

const DEFAULT_COUNT = 100;

/** The attribute rules the patch engine applies to Users (exported for the PATCH unit table). */
export const USER_PATCH: PatchTarget = {
  multiValued: new Set([
    'emails',
    'groups',
    'phonenumbers',
    'addresses',
    'ims',
    'photos',
    'roles',
    'entitlements',
    'x509certificates',
  ]),
  readOnly: new Set(['id', 'meta', 'schemas', 'groups']),
  caseExact: isCaseExact,
};
/** The attribute rules the patch engine applies to Groups. */
export const GROUP_PATCH: PatchTarget = {
  multiValued: new Set(['members']),
  readOnly: new Set(['id', 'meta', 'schemas']),
  caseExact: isCaseExact,
};

/**
 * `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5), on top-level attributes. Parsed
 * before the request body is read, so a bad attribute name is refused first.
 */
export function projection(attributes: string | null, excluded: string | null): Projection {
  const names = (raw: string | null) =>
    new Set(
      (raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .slice(0, 50)
        .map((s) => parseAttrRef(s).attr),
    );
  const only = names(attributes);
  const out = names(excluded);
  if (only.size === 0 && out.size === 0) return (r) => r;
  return (resource) => {
    const shown: Json = {};
    for (const [key, value] of Object.entries(resource)) {
      const lower = key.toLowerCase();
      const always = lower === 'id' || lower === 'schemas';
      if (always || (only.size > 0 ? only.has(lower) : !out.has(lower))) shown[key] = value;
    }
    return shown;
  };
}

function integer(raw: string | null, name: string): number | null {
  if (raw === null || raw.trim() === '') return null;
  if (!/^-?\d{1,9}$/.test(raw.trim()))
    throw badRequest('invalidValue', `${name} must be an integer`);
  return Number(raw);
}

function page(query: ListQuery): { start: number; count: number } {
  const start = Math.max(1, integer(query.startIndex, 'startindex') ?? 1);
  const count = Math.min(MAX_RESULTS, Math.max(0, integer(query.count, 'count') ?? DEFAULT_COUNT));
  return { start, count };
}

/** An email a filter pins the user to (`userName eq`, `emails[…].value eq`), for a direct lookup. */
function pinnedEmail(filter: Filter): string | null {
  if (filter.kind === 'and') return pinnedEmail(filter.left) ?? pinnedEmail(filter.right);
  if (filter.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string')
    return null;
  const { attr, sub } = filter.ref;
  if (
    (attr === 'username' && !sub && !filter.where) ||
    (attr === 'emails' && (sub ?? 'value') === 'value')
  )
    return normalizeEmail(filter.value);
  return null;
}

/** The value an `attr eq "…"` clause (possibly inside `and`s) pins a lookup to, or null. */
function pinnedValue(filter: Filter, attr: string): string | null {
  if (filter.kind === 'and')
    return pinnedValue(filter.left, attr) ?? pinnedValue(filter.right, attr);
  if (
    filter.kind === 'compare' &&
    filter.op === 'eq' &&
    filter.ref.attr === attr &&
    !filter.ref.sub &&
    typeof filter.value === 'string'
  )
    return filter.value;
  return null;
}

/** What differs between Users and Groups; `Resources` does the rest the same way for both. */
interface Kind<T, F> {
  /** `User`, `Group`: in "… not found". */
  name: string;
  /** `Users`, `Groups`: the path segment under the base URL. */
  path: string;
  load(id: string): Promise<T | null>;
  /** The full representation a client reads back. */
  render(item: T): Promise<Json>;
  /** The representation filters and PATCH see. */
  plain(item: T): Json;
  fields(resource: unknown): F;
  patchTarget: PatchTarget;
  /** An unfiltered page. */
  page(offset: number, limit: number): Promise<{ items: T[]; total: number }>;
  /** Every item the filter selects (a direct lookup where the filter pins one). */
  find(filter: Filter, test: (item: T) => boolean): Promise<T[]>;
  create(fields: F, source: AuditSource | null): Promise<T>;
  replace(existing: T, fields: F, source: AuditSource | null): Promise<T>;
  remove(item: T, source: AuditSource | null): Promise<void>;
  /** Whether a read-change-write runs again on a version conflict (groups: other instances). */
  retries: boolean;
}

class Resources<T extends { id: string }, F> implements ResourceService {
  constructor(
    private readonly kind: Kind<T, F>,
    private readonly provisioning: Provisioning,
    private readonly base: string,
  ) {}

  get path(): string {
    return this.kind.path;
  }

  private async load(id: string): Promise<T> {
    const item = await this.kind.load(id);
    if (!item) throw notFound(`${this.kind.name} ${id}`);
    return item;
  }

  /**
   * Writes run one at a time on this instance; a group's read-change-write runs again on a
   * version conflict, so it applies to the group as another instance left it and neither
   * instance's change is lost.
   */
  private write<R>(task: () => Promise<R>): Promise<R> {
    const { provisioning } = this;
    return provisioning.serialize(
      this.kind.retries ? () => provisioning.retryOnConflict(task) : task,
    );
  }

  async list(query: ListQuery, project: Projection): Promise<Json> {
    const { start, count } = page(query);
    const kind = this.kind;
    let items: T[];
    let total: number;
    if (query.filter === null || query.filter.trim() === '') {
      ({ items, total } = await kind.page(start - 1, count));
    } else {
      const filter = parseFilter(query.filter);
      const found = await kind.find(filter, (item) =>
        matches(filter, kind.plain(item), isCaseExact),
      );
      items = found.slice(start - 1, start - 1 + count);
      total = found.length;
    }
    const resources = await Promise.all(items.map((item) => kind.render(item)));
    return listResponse(resources.map(project), total, start);
  }

  async get(id: string, project: Projection): Promise<Json> {
    return project(await this.kind.render(await this.load(id)));
  }

  async create(body: unknown, project: Projection, source: AuditSource | null): Promise<Created> {
    const fields = this.kind.fields(body);
    const item = await this.provisioning.serialize(() => this.kind.create(fields, source));
    return {
      resource: project(await this.kind.render(item)),
      location: `${this.base}/${this.kind.path}/${item.id}`,
    };
  }

  async replace(
    id: string,
    body: unknown,
    project: Projection,
    source: AuditSource | null,
  ): Promise<Json> {
    const fields = this.kind.fields(body);
    const item = await this.write(async () =>
      this.kind.replace(await this.load(id), fields, source),
    );
    return project(await this.kind.render(item));
  }

  async patch(
    id: string,
    body: unknown,
    project: Projection,
    source: AuditSource | null,
  ): Promise<Json> {
    const { kind } = this;
    const item = await this.write(async () => {
      const existing = await this.load(id);
      const patched = applyPatch(kind.plain(existing), body, kind.patchTarget);
      return kind.replace(existing, kind.fields(patched), source);
    });
    return project(await kind.render(item));
  }

  async remove(id: string, source: AuditSource | null): Promise<void> {
    await this.provisioning.serialize(async () => this.kind.remove(await this.load(id), source));
  }
}

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
    const userKind: Kind<User, UserFields> = {
      name: 'User',
      path: 'Users',
      load: (id) => deps.users.getUser(id),
      render: async (user) => userToScim(user, base, await provisioning.groupsOf(user)),
      plain: (user) => userToScim(user, base, []),
      fields: userFromScim,
      patchTarget: USER_PATCH,
      page: async (offset, limit) => {
        const result = await deps.users.listUsers({ offset, limit });
        return { items: result.users, total: result.total };
      },
      find: async (filter, test) => {
        let found: User[] = [];
        const email = pinnedEmail(filter);
        const id = pinnedValue(filter, 'id');
        if (email !== null || id !== null) {
          const user =
            id !== null
              ? await deps.users.getUser(id)
              : await deps.users.getUserByEmail(email as string);
          found = user && test(user) ? [user] : [];
        }
        // A userName that is an address need not be its user's email (the email follows
        // `emails`): a miss by email is not a miss by userName.
        const scan =
          (email === null && id === null) ||
          (found.length === 0 && id === null && pinnedValue(filter, 'username') !== null);
        if (scan)
          for await (const user of provisioning.allUsers()) if (test(user)) found.push(user);
        return found;
      },
      create: (fields, source) => provisioning.createUser(fields, source),
      replace: (existing, fields, source) => provisioning.replaceUser(existing, fields, source),
      remove: (user, source) => provisioning.deleteUser(user, source),
      retries: false,
    };
    const groupKind: Kind<Group, GroupFields> = {
      name: 'Group',
      path: 'Groups',
      load: (id) => deps.groups.getGroup(id),
      render: async (group) => groupToScim(group, base),
      plain: (group) => groupToScim(group, base),
      fields: groupFromScim,
      patchTarget: GROUP_PATCH,
      page: async (offset, limit) => {
        const result = await deps.groups.listGroups({ offset, limit });
        return { items: result.groups, total: result.total };
      },
      find: async (filter, test) => {
        const id = pinnedValue(filter, 'id');
        const name = pinnedValue(filter, 'displayname');
        if (id !== null || name !== null) {
          const group =
            id !== null
              ? await deps.groups.getGroup(id)
              : await deps.groups.getGroupByName(name as string);
          return group && test(group) ? [group] : [];
        }
        const found: Group[] = [];
        for await (const group of provisioning.allGroups()) if (test(group)) found.push(group);
        return found;
      },
      create: (fields, source) => provisioning.createGroup(fields, source),
      replace: (existing, fields, source) => provisioning.replaceGroup(existing, fields, source),
      remove: (group, source) => provisioning.deleteGroup(group, source),
      retries: true,
    };
    this.users = new Resources(userKind, provisioning, base);
    this.groups = new Resources(groupKind, provisioning, base);
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
