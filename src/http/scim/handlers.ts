import type { IncomingMessage, ServerResponse } from 'node:http';
import { normalizeEmail } from '../../core/email.js';
import { isPortcullisError, type PortcullisError } from '../../core/errors.js';
import { type Group, StoreUnavailableError, type User } from '../../ports/store.js';
import { isObject, parseAttrRef } from '../../scim/attribute-path.js';
import { challenges, checkCredentials, type ScimCredentials } from '../../scim/auth.js';
import {
  listResponse,
  MAX_BODY_BYTES,
  MAX_RESULTS,
  resourceTypes,
  schemas,
  serviceProviderConfig,
} from '../../scim/discovery.js';
import { badRequest, notFound, ScimError } from '../../scim/errors.js';
import { type Filter, matches, parseFilter } from '../../scim/filter.js';
import { applyPatch, type PatchTarget } from '../../scim/patch.js';
import { Provisioning } from '../../scim/provisioning.js';
import {
  groupFromScim,
  groupToScim,
  isCaseExact,
  type Json,
  userFromScim,
  userToScim,
} from '../../scim/resources.js';
import { auditSource } from '../audit-source.js';
import type { AppContext } from '../context.js';
import { readJson } from '../json-body.js';
import { answerProblem } from '../problem.js';
import { requestId } from '../request.js';
import { SCIM_BASE_PATH, SCIM_CONTENT_TYPE } from './paths.js';

export { isScimPath, SCIM_BASE_PATH } from './paths.js';

const DEFAULT_COUNT = 100;
/** Failed credential checks per client address and minute before answers turn to 429. */
const AUTH_FAILURES_PER_MINUTE = 30;

const USER_PATCH: PatchTarget = {
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
const GROUP_PATCH: PatchTarget = {
  multiValued: new Set(['members']),
  readOnly: new Set(['id', 'meta', 'schemas']),
  caseExact: isCaseExact,
};

export type ScimHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
) => void;

/** Proof that a handler answered: every path through one ends in `send`. */
type Sent = { readonly sent: true };
const SENT: Sent = { sent: true };

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: string[] = [],
): Sent {
  headers.push('Cache-Control', 'no-store', 'X-Content-Type-Options', 'nosniff');
  if (body === undefined) {
    headers.push('Content-Length', '0');
    res.writeHead(status, headers);
    res.end();
    return SENT;
  }
  const buffer = Buffer.from(JSON.stringify(body), 'utf8');
  headers.push('Content-Type', SCIM_CONTENT_TYPE, 'Content-Length', String(buffer.length));
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : buffer);
  return SENT;
}

function param(query: URLSearchParams, name: string): string | null {
  for (const [key, value] of query) if (key.toLowerCase() === name) return value;
  return null;
}

function integer(query: URLSearchParams, name: string): number | null {
  const raw = param(query, name);
  if (raw === null || raw.trim() === '') return null;
  if (!/^-?\d{1,9}$/.test(raw.trim()))
    throw badRequest('invalidValue', `${name} must be an integer`);
  return Number(raw);
}

/** `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5), on top-level attributes. */
function projection(query: URLSearchParams): (resource: Json) => Json {
  const names = (raw: string | null) =>
    new Set(
      (raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .slice(0, 50)
        .map((s) => parseAttrRef(s).attr),
    );
  const only = names(param(query, 'attributes'));
  const excluded = names(param(query, 'excludedattributes'));
  if (only.size === 0 && excluded.size === 0) return (r) => r;
  return (resource) => {
    const out: Json = {};
    for (const [key, value] of Object.entries(resource)) {
      const lower = key.toLowerCase();
      const always = lower === 'id' || lower === 'schemas';
      if (always || (only.size > 0 ? only.has(lower) : !excluded.has(lower))) out[key] = value;
    }
    return out;
  };
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

function decodeSegment(segment: string): string | null {
  try {
    const value = decodeURIComponent(segment);
    return value.length > 0 && value.length <= 256 ? value : null;
  } catch {
    return null;
  }
}

/**
 * Builds the `/scim/v2` handler (RFC 7644). Every answer, errors included, is
 * `application/scim+json`; with `scim.enabled: false` every path answers a SCIM 404.
 */
export function createScimHandler(ctx: AppContext): ScimHandler {
  const enabled = ctx.config.raw.scim.enabled;
  const credentials: ScimCredentials = {
    user: ctx.config.env.scimUser,
    password: ctx.config.env.scimPassword,
    bearerToken: ctx.config.env.scimBearerToken,
  };
  const base = `${ctx.config.publicOrigin}${ctx.config.publicUrl.pathname.replace(/\/+$/, '')}${SCIM_BASE_PATH}`;
  const provisioning = new Provisioning({
    store: ctx.store,
    sessions: ctx.sessions,
    clock: ctx.clock,
    logger: ctx.logger,
    audit: ctx.audit,
    isProtectedAdmin: (user) => ctx.users.isAdmin({ ...user, groups: [] }),
  });

  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown) => {
    let problem: PortcullisError;
    // A refusal is the client's to read; any other fault is logged and answered without detail.
    if (error instanceof ScimError || (isPortcullisError(error) && error.status < 500))
      problem = error;
    else {
      ctx.logger.error(
        { request_id: requestId(req), err: error, path: req.url?.split('?')[0] },
        'scim request failed',
      );
      problem =
        error instanceof StoreUnavailableError
          ? new ScimError(503, 'The store is unreachable. Try again in a moment.')
          : new ScimError(500, 'Something went wrong on our side.');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (problem.status >= 400 && problem.status < 500 && problem.status !== 404)
      ctx.logger.info(
        {
          request_id: requestId(req),
          status: problem.status,
          detail: problem.publicMessage,
          method: req.method,
          path: req.url?.split('?')[0],
        },
        'scim request refused',
      );
    // The mapper closes after a 413 (the refused upload is not read) and gives a 503 its
    // Retry-After (an outage, or a group other instances keep changing).
    answerProblem(ctx, req, res, problem, [], 'scim');
  };

  const body = (req: IncomingMessage) => readJson(req, { maxBytes: MAX_BODY_BYTES, maxDepth: 32 });

  const renderUser = async (user: User) =>
    userToScim(user, base, await provisioning.groupsOf(user));

  async function loadUser(id: string): Promise<User> {
    const user = await ctx.store.getUser(id);
    if (!user) throw notFound(`User ${id}`);
    return user;
  }

  async function loadGroup(id: string): Promise<Group> {
    const group = await ctx.store.getGroup(id);
    if (!group) throw notFound(`Group ${id}`);
    return group;
  }

  function page(query: URLSearchParams): { start: number; count: number } {
    const start = Math.max(1, integer(query, 'startindex') ?? 1);
    const count = Math.min(MAX_RESULTS, Math.max(0, integer(query, 'count') ?? DEFAULT_COUNT));
    return { start, count };
  }

  async function listUsers(query: URLSearchParams): Promise<Json> {
    const { start, count } = page(query);
    const project = projection(query);
    const filterText = param(query, 'filter');
    if (filterText === null || filterText.trim() === '') {
      const result = await ctx.store.listUsers({ offset: start - 1, limit: count });
      const resources = await Promise.all(result.users.map(renderUser));
      return listResponse(resources.map(project), result.total, start);
    }
    const filter = parseFilter(filterText);
    const test = (user: User) => matches(filter, userToScim(user, base, []), isCaseExact);
    let found: User[] = [];
    const email = pinnedEmail(filter);
    const id = pinnedValue(filter, 'id');
    if (email !== null || id !== null) {
      const user =
        id !== null ? await ctx.store.getUser(id) : await ctx.store.getUserByEmail(email as string);
      found = user && test(user) ? [user] : [];
    }
    // A userName that is an address need not be its user's email (the email follows `emails`):
    // a miss by email is not a miss by userName.
    const scan =
      (email === null && id === null) ||
      (found.length === 0 && id === null && pinnedValue(filter, 'username') !== null);
    if (scan) for await (const user of provisioning.allUsers()) if (test(user)) found.push(user);
    const slice = found.slice(start - 1, start - 1 + count);
    const resources = await Promise.all(slice.map(renderUser));
    return listResponse(resources.map(project), found.length, start);
  }

  async function listGroups(query: URLSearchParams): Promise<Json> {
    const { start, count } = page(query);
    const project = projection(query);
    const filterText = param(query, 'filter');
    if (filterText === null || filterText.trim() === '') {
      const result = await ctx.store.listGroups({ offset: start - 1, limit: count });
      return listResponse(
        result.groups.map((g) => project(groupToScim(g, base))),
        result.total,
        start,
      );
    }
    const filter = parseFilter(filterText);
    const test = (group: Group) => matches(filter, groupToScim(group, base), isCaseExact);
    let found: Group[] = [];
    const id = pinnedValue(filter, 'id');
    const name = pinnedValue(filter, 'displayname');
    if (id !== null || name !== null) {
      const group =
        id !== null ? await ctx.store.getGroup(id) : await ctx.store.getGroupByName(name as string);
      found = group && test(group) ? [group] : [];
    } else {
      for await (const group of provisioning.allGroups()) if (test(group)) found.push(group);
    }
    const slice = found.slice(start - 1, start - 1 + count);
    return listResponse(
      slice.map((g) => project(groupToScim(g, base))),
      found.length,
      start,
    );
  }

  async function users(
    req: IncomingMessage,
    res: ServerResponse,
    id: string | null,
    query: URLSearchParams,
  ): Promise<Sent> {
    const method = req.method ?? 'GET';
    const project = projection(query);
    if (id === null) {
      if (method === 'GET') return send(req, res, 200, await listUsers(query));
      if (method === 'POST') {
        const fields = userFromScim(await body(req));
        const user = await provisioning.serialize(() =>
          provisioning.createUser(fields, auditSource(ctx, req)),
        );
        const rendered = await renderUser(user);
        return send(req, res, 201, project(rendered), ['Location', `${base}/Users/${user.id}`]);
      }
      throw new ScimError(405, `${method} is not allowed on /Users`);
    }
    if (method === 'GET') return send(req, res, 200, project(await renderUser(await loadUser(id))));
    if (method === 'PUT') {
      const fields = userFromScim(await body(req));
      const user = await provisioning.serialize(async () =>
        provisioning.replaceUser(await loadUser(id), fields, auditSource(ctx, req)),
      );
      return send(req, res, 200, project(await renderUser(user)));
    }
    if (method === 'PATCH') {
      const patch = await body(req);
      const user = await provisioning.serialize(async () => {
        const existing = await loadUser(id);
        const patched = applyPatch(userToScim(existing, base, []), patch, USER_PATCH);
        return provisioning.replaceUser(existing, userFromScim(patched), auditSource(ctx, req));
      });
      return send(req, res, 200, project(await renderUser(user)));
    }
    if (method === 'DELETE') {
      await provisioning.serialize(async () =>
        provisioning.deleteUser(await loadUser(id), auditSource(ctx, req)),
      );
      return send(req, res, 204, undefined);
    }
    throw new ScimError(405, `${method} is not allowed on /Users/{id}`);
  }

  async function groups(
    req: IncomingMessage,
    res: ServerResponse,
    id: string | null,
    query: URLSearchParams,
  ): Promise<Sent> {
    const method = req.method ?? 'GET';
    const project = projection(query);
    if (id === null) {
      if (method === 'GET') return send(req, res, 200, await listGroups(query));
      if (method === 'POST') {
        const fields = groupFromScim(await body(req));
        const group = await provisioning.serialize(() =>
          provisioning.createGroup(fields, auditSource(ctx, req)),
        );
        return send(req, res, 201, project(groupToScim(group, base)), [
          'Location',
          `${base}/Groups/${group.id}`,
        ]);
      }
      throw new ScimError(405, `${method} is not allowed on /Groups`);
    }
    if (method === 'GET')
      return send(req, res, 200, project(groupToScim(await loadGroup(id), base)));
    if (method === 'PUT') {
      const fields = groupFromScim(await body(req));
      const group = await provisioning.serialize(() =>
        provisioning.retryOnConflict(async () =>
          provisioning.replaceGroup(await loadGroup(id), fields, auditSource(ctx, req)),
        ),
      );
      return send(req, res, 200, project(groupToScim(group, base)));
    }
    if (method === 'PATCH') {
      const patch = await body(req);
      // The whole read-patch-write runs again on a version conflict: the patch applies to the
      // group as another instance left it, so neither instance's change is lost.
      const group = await provisioning.serialize(() =>
        provisioning.retryOnConflict(async () => {
          const existing = await loadGroup(id);
          const patched = applyPatch(groupToScim(existing, base), patch, GROUP_PATCH);
          return provisioning.replaceGroup(existing, groupFromScim(patched), auditSource(ctx, req));
        }),
      );
      return send(req, res, 200, project(groupToScim(group, base)));
    }
    if (method === 'DELETE') {
      await provisioning.serialize(async () =>
        provisioning.deleteGroup(await loadGroup(id), auditSource(ctx, req)),
      );
      return send(req, res, 204, undefined);
    }
    throw new ScimError(405, `${method} is not allowed on /Groups/{id}`);
  }

  function discovery(
    req: IncomingMessage,
    res: ServerResponse,
    kind: string,
    id: string | null,
  ): Sent {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new ScimError(405, `${req.method} is not allowed here`);
    if (kind === 'serviceproviderconfig') {
      if (id !== null) throw notFound('Resource');
      return send(req, res, 200, serviceProviderConfig(base));
    }
    const list = kind === 'resourcetypes' ? resourceTypes(base) : schemas(base);
    if (id === null) return send(req, res, 200, listResponse(list, list.length, 1));
    const one = list.find(
      (item) =>
        isObject(item) && typeof item.id === 'string' && item.id.toLowerCase() === id.toLowerCase(),
    );
    if (!one) throw notFound(kind === 'resourcetypes' ? `ResourceType ${id}` : `Schema ${id}`);
    return send(req, res, 200, one);
  }

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    query: URLSearchParams,
  ): Promise<Sent> {
    if (!enabled) throw new ScimError(404, 'SCIM is not enabled on this server (scim.enabled)');
    if (!checkCredentials(req.headers.authorization, credentials)) {
      req.resume();
      const failures = await ctx.store.hit(`scim-auth:${req.socket.remoteAddress ?? '?'}`, 60_000);
      if (failures > AUTH_FAILURES_PER_MINUTE)
        throw new ScimError(429, 'Too many failed attempts. Wait a minute.');
      const headers: string[] = [];
      for (const challenge of challenges(credentials)) headers.push('WWW-Authenticate', challenge);
      const refusal = new ScimError(
        401,
        'Authentication required: SCIM credentials missing or wrong',
      );
      answerProblem(ctx, req, res, refusal, headers, 'scim');
      return SENT;
    }
    const segments = path
      .slice(SCIM_BASE_PATH.length)
      .split('/')
      .filter((s, i) => i > 0 || s !== '');
    // segments: [resource, id?]; a trailing slash leaves an empty last segment.
    if (segments[segments.length - 1] === '') segments.pop();
    if (segments.length === 0 || segments.length > 2) throw notFound('Resource');
    const kind = (segments[0] as string).toLowerCase();
    const id = segments.length === 2 ? decodeSegment(segments[1] as string) : null;
    if (segments.length === 2 && id === null) throw notFound('Resource');
    switch (kind) {
      case 'users':
        return users(req, res, id, query);
      case 'groups':
        return groups(req, res, id, query);
      case 'serviceproviderconfig':
      case 'resourcetypes':
      case 'schemas':
        return discovery(req, res, kind, id);
      default:
        throw notFound('Resource');
    }
  }

  return (req, res, path, query) => {
    handle(req, res, path, query).catch((error: unknown) => {
      req.resume();
      fail(req, res, error);
    });
  };
}
