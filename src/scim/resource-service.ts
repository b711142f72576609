import type { AuditSource } from '../services/audit.js';
import { listResponse } from './discovery.js';
import { notFound } from './errors.js';
import type { Filter } from './filter.js';
import { matches } from './filter-match.js';
import { parseFilter } from './filter-parser.js';
import { type ListQuery, listPage } from './list-page.js';
import { applyPatch, type PatchTarget } from './patch.js';
import type { Projection } from './projection.js';
import { isCaseExact, type Json } from './resources.js';
import type { WriteQueue } from './write-queue.js';

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

/** What differs between Users and Groups; `Resources` does the rest the same way for both. */
export interface ResourceKind<T, F> {
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

/** List, read, create, replace, PATCH and delete of one resource type, as RFC 7644 §3 says. */
export class Resources<T extends { id: string }, F> implements ResourceService {
  constructor(
    private readonly kind: ResourceKind<T, F>,
    private readonly writes: WriteQueue,
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
    const { writes } = this;
    return writes.serialize(this.kind.retries ? () => writes.retryOnConflict(task) : task);
  }

  async list(query: ListQuery, project: Projection): Promise<Json> {
    const { start, count } = listPage(query);
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
    const item = await this.writes.serialize(() => this.kind.create(fields, source));
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
    await this.writes.serialize(async () => this.kind.remove(await this.load(id), source));
  }
}
