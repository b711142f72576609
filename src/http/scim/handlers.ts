import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isPortcullisError, type PortcullisError } from '../../core/errors.js';
import type { Counters } from '../../ports/counters.js';
import { StoreUnavailableError } from '../../ports/store.js';
import { challenges, checkCredentials, type ScimCredentials } from '../../scim/auth.js';
import { MAX_BODY_BYTES } from '../../scim/discovery.js';
import { notFound, ScimError } from '../../scim/errors.js';
import {
  type DiscoveryKind,
  type ListQuery,
  type Projection,
  projection,
  type ResourceService,
  type ScimService,
} from '../../scim/service.js';
import { auditSource } from '../audit-source.js';
import { readJson } from '../json-body.js';
import { answerProblem, type PageChrome } from '../problem.js';
import { requestId, type TrustedProxies } from '../request.js';
import { SCIM_BASE_PATH, SCIM_CONTENT_TYPE } from './paths.js';

export { isScimPath, SCIM_BASE_PATH } from './paths.js';

/** Failed credential checks per client address and minute before answers turn to 429. */
const AUTH_FAILURES_PER_MINUTE = 30;

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

/** A list request's `filter`, `startIndex` and `count`, names matched case-insensitively. */
function listQuery(query: URLSearchParams): ListQuery {
  return {
    filter: param(query, 'filter'),
    startIndex: param(query, 'startindex'),
    count: param(query, 'count'),
  };
}

/** The `attributes` / `excludedAttributes` projection every `/Users` and `/Groups` answer gets. */
function view(query: URLSearchParams): Projection {
  return projection(param(query, 'attributes'), param(query, 'excludedattributes'));
}

function decodeSegment(segment: string): string | null {
  try {
    const value = decodeURIComponent(segment);
    return value.length > 0 && value.length <= 256 ? value : null;
  } catch {
    return null;
  }
}

export interface ScimHandlerDeps {
  /** `scim.enabled`: when false every path answers a SCIM 404. */
  enabled: boolean;
  /** `SCIM_*` from the environment. */
  credentials: ScimCredentials;
  service: Pick<ScimService, 'users' | 'groups' | 'discover'>;
  /** Failed credential checks per client address. */
  failures: Pick<Counters, 'hit'>;
  proxies: TrustedProxies;
  chrome: PageChrome;
  logger: Logger;
}

/**
 * Builds the `/scim/v2` handler (RFC 7644). Every answer, errors included, is
 * `application/scim+json`; with `scim.enabled: false` every path answers a SCIM 404.
 */
export function createScimHandler(deps: ScimHandlerDeps): ScimHandler {
  const { enabled, credentials, service, logger, chrome } = deps;

  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown) => {
    let problem: PortcullisError;
    // A refusal is the client's to read; any other fault is logged and answered without detail.
    if (error instanceof ScimError || (isPortcullisError(error) && error.status < 500))
      problem = error;
    else {
      logger.error(
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
      logger.info(
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
    answerProblem(chrome, req, res, problem, [], 'scim');
  };

  const body = (req: IncomingMessage) => readJson(req, { maxBytes: MAX_BODY_BYTES, maxDepth: 32 });

  /** `/Users` and `/Groups`: the method picks the service operation. */
  async function resource(
    req: IncomingMessage,
    res: ServerResponse,
    resources: ResourceService,
    id: string | null,
    query: URLSearchParams,
  ): Promise<Sent> {
    const method = req.method ?? 'GET';
    const where = `/${resources.path}`;
    // Before the body: a bad attribute name is refused without reading the upload.
    const project = view(query);
    const source = () => auditSource(deps.proxies, req);
    if (id === null) {
      if (method === 'GET')
        return send(req, res, 200, await resources.list(listQuery(query), project));
      if (method === 'POST') {
        const created = await resources.create(await body(req), project, source());
        return send(req, res, 201, created.resource, ['Location', created.location]);
      }
      throw new ScimError(405, `${method} is not allowed on ${where}`);
    }
    if (method === 'GET') return send(req, res, 200, await resources.get(id, project));
    if (method === 'PUT')
      return send(req, res, 200, await resources.replace(id, await body(req), project, source()));
    if (method === 'PATCH')
      return send(req, res, 200, await resources.patch(id, await body(req), project, source()));
    if (method === 'DELETE') {
      await resources.remove(id, source());
      return send(req, res, 204, undefined);
    }
    throw new ScimError(405, `${method} is not allowed on ${where}/{id}`);
  }

  function discovery(
    req: IncomingMessage,
    res: ServerResponse,
    kind: DiscoveryKind,
    id: string | null,
  ): Sent {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new ScimError(405, `${req.method} is not allowed here`);
    return send(req, res, 200, service.discover(kind, id));
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
      const failures = await deps.failures.hit(
        `scim-auth:${req.socket.remoteAddress ?? '?'}`,
        60_000,
      );
      if (failures > AUTH_FAILURES_PER_MINUTE)
        throw new ScimError(429, 'Too many failed attempts. Wait a minute.');
      const headers: string[] = [];
      for (const challenge of challenges(credentials)) headers.push('WWW-Authenticate', challenge);
      const refusal = new ScimError(
        401,
        'Authentication required: SCIM credentials missing or wrong',
      );
      answerProblem(chrome, req, res, refusal, headers, 'scim');
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
        return resource(req, res, service.users, id, query);
      case 'groups':
        return resource(req, res, service.groups, id, query);
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
