import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Timers } from '../core/clock.js';
import type { Identity } from '../core/identity.js';
import { type HeaderNames, identityHeaders } from '../core/identity-headers.js';
import type { CheckPipeline, HeaderFamily } from '../http/check/pipeline.js';
import type { PageChrome } from '../http/problem.js';
import type { TrustedProxies } from '../http/request.js';
import type { ForbiddenPages } from '../http/routes/forbidden.js';
import type { SessionCookie } from '../http/session-cookie.js';
import type { SessionStore } from '../ports/sessions.js';
import type { SessionService } from '../services/sessions.js';
import { RequestAdmission } from './admission.js';
import { ProxyEngine } from './engine.js';
import { RequestRefusals, refuseUpgrade } from './refusals.js';
import { RequestHeaderPolicy } from './request-headers.js';
import { RequestPath } from './request-path.js';
import { watchOpenSockets } from './socket-recheck.js';
import type { TunnelRegistry } from './tunnels.js';
import { UpgradePath } from './upgrade-path.js';
import { checkHandshake } from './websocket-handshake.js';

export interface ReverseProxy {
  /** Serves a request outside portcullis' own paths: check, then forward or answer. */
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  /** The server's `upgrade` event for paths outside portcullis' own. */
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  readonly openTunnels: number;
  readonly upstreamConnections: number;
  /** Shutdown: tells every WebSocket client goodbye (1001); resolves when all are closed. */
  drainTunnels(): Promise<void>;
  close(): Promise<void>;
}

/** `proxy.*` and the limits it shares with the server, read from the config once. */
export interface ReverseProxySettings {
  /** `proxy.upstream`. */
  upstream: string;
  connectTimeoutMs: number;
  /** `proxy.timeout`: until the upstream's response headers. */
  headersTimeoutMs: number;
  /** `proxy.body_timeout`; null: none. */
  bodyTimeoutMs: number | null;
  /** `server.max_header_size`, also for the upstream's response headers. */
  maxHeaderSize: number;
  /** `proxy.preserve_host`. */
  preserveHost: boolean;
  /** `public_url`'s scheme, for requests without a trusted X-Forwarded-Proto. */
  defaultScheme: 'http' | 'https';
  /** Where the deadlines' timers come from. */
  timers: Timers;
}

export interface ReverseProxyDeps {
  settings: ReverseProxySettings;
  pipeline: CheckPipeline;
  cookie: SessionCookie;
  proxies: TrustedProxies;
  headerNames: HeaderNames;
  /** `tokens.header` when app tokens are on (removed from every request), else null. */
  tokenHeader: string | null;
  /** Re-reads the session of an open WebSocket. */
  sessions: Pick<SessionService, 'resolve'>;
  /** Every instance's revocations: they close the sockets at once. */
  revocations: Pick<SessionStore, 'onSessionRevoked'>;
  chrome: PageChrome;
  /** Public base of portcullis' pages: where "log in" points. */
  baseUrl: string;
  logger: Logger;
  /** The 403 page of a signed-in person the rules refuse. */
  forbidden: Pick<ForbiddenPages, 'send'>;
}

/** What the two entry points share, built once by `createReverseProxy`. */
interface ProxyParts {
  admission: RequestAdmission;
  cookies: SessionCookie;
  pipeline: CheckPipeline;
  requests: RequestPath;
  upgrades: UpgradePath;
  refusals: RequestRefusals;
  engine: ProxyEngine;
  tunnels: TunnelRegistry;
}

/**
 * Reverse-proxy mode (SPEC §3): every request outside the prefix and `/scim/v2` is decided
 * exactly like a Traefik forward-auth check of the same URL, then forwarded with the identity
 * headers set after any client-sent copies were removed. WebSocket handshakes are decided the
 * same way before the upstream sees them.
 */
export function createReverseProxy(deps: ReverseProxyDeps): ReverseProxy {
  const { settings, pipeline, logger } = deps;
  const url = new URL(settings.upstream);
  const basePath = url.pathname.replace(/\/+$/, '');
  const engine = new ProxyEngine({
    origin: url.origin,
    connectTimeoutMs: settings.connectTimeoutMs,
    headersTimeoutMs: settings.headersTimeoutMs,
    bodyTimeoutMs: settings.bodyTimeoutMs,
    maxHeaderSize: settings.maxHeaderSize,
    timers: settings.timers,
  });
  const cookies = deps.cookie;
  const admission = new RequestAdmission({
    policy: new RequestHeaderPolicy(deps.headerNames, cookies.name, deps.tokenHeader),
    isTrusted: (peer) => deps.proxies.isTrusted(peer),
    // Portcullis does not terminate TLS: without a trusted X-Forwarded-Proto, requests are taken
    // to have reached the front door the way public_url says people reach it.
    defaultScheme: settings.defaultScheme,
    logger,
  });
  const tunnels = watchOpenSockets({
    resolve: (cookie) => deps.sessions.resolve(cookie),
    onSessionRevoked: (listener) => deps.revocations.onSessionRevoked(listener),
    logger,
  });
  const family = identityFamily(deps.headerNames);
  const headers = { preserveHost: settings.preserveHost, upstreamHost: url.host };
  const refusals = new RequestRefusals({
    chrome: deps.chrome,
    logger,
    baseUrl: deps.baseUrl,
    forbidden: deps.forbidden,
  });
  const requests = new RequestPath({ family, pipeline, engine, refusals, headers, basePath });
  const upgrades = new UpgradePath({
    family,
    engine,
    pipeline,
    tunnels,
    headers,
    basePath,
    baseUrl: deps.baseUrl,
    logger,
  });
  const parts = { admission, cookies, pipeline, requests, upgrades, refusals, engine, tunnels };
  return new AuthenticatingProxy(parts);
}

/** Only the identity headers: they are appended to the client's, filtered. */
function identityFamily(names: HeaderNames): HeaderFamily {
  return { memoKey: 'headers', build: (identity: Identity) => identityHeaders(names, identity) };
}

class AuthenticatingProxy implements ReverseProxy {
  private readonly refusedSockets = new WeakSet<object>();

  constructor(private readonly parts: ProxyParts) {}

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    // A request pipelined behind a refused one on the same connection is not served either.
    if (this.refusedSockets.has(req.socket)) {
      res.destroy();
      return;
    }
    const { admission, cookies, pipeline, requests } = this.parts;
    const checked = admission.admit(req);
    if (typeof checked === 'string') {
      this.refusedSockets.add(req.socket);
      this.parts.refusals.badRequest(req, res, checked);
      return;
    }
    const cookie = cookies.readHeader(checked.scan.cookie);
    pipeline.run(req, res, checked.target, cookie, requests, checked);
  }

  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', destroySocket);
    const handshake = checkHandshake(req.method ?? 'GET', req.headers);
    if (!handshake.ok) {
      refuseUpgrade(socket, handshake.status, { error: handshake.reason }, handshake.headers);
      return;
    }
    const { admission, cookies, pipeline, upgrades } = this.parts;
    const checked = admission.admit(req);
    if (typeof checked === 'string') {
      refuseUpgrade(socket, 400, { error: checked });
      return;
    }
    const cookie = cookies.readHeader(checked.scan.cookie);
    pipeline.run(req, socket, checked.target, cookie, upgrades, { checked, head, cookie });
  }

  get openTunnels(): number {
    return this.parts.tunnels.size;
  }

  get upstreamConnections(): number {
    return this.parts.engine.upstreamConnections;
  }

  drainTunnels(): Promise<void> {
    return this.parts.tunnels.goAwayAll();
  }

  async close(): Promise<void> {
    this.parts.tunnels.closeAll();
    await this.parts.engine.close();
  }
}

/** A client socket that errors mid-handshake is dropped (`this` is the socket). */
function destroySocket(this: Socket): void {
  this.destroy();
}
