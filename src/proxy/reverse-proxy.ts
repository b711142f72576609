import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Identity } from '../core/identity.js';
import { identityHeaders } from '../core/identity-headers.js';
import { CheckPipeline, type HeaderFamily } from '../http/check/pipeline.js';
import type { AppContext } from '../http/context.js';
import { isTrusted } from '../http/request.js';
import { type SessionCookie, sessionCookie } from '../http/session-cookie.js';
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
export function createReverseProxy(ctx: AppContext, upstream: string): ReverseProxy {
  const settings = ctx.config.raw.proxy;
  const url = new URL(upstream);
  const basePath = url.pathname.replace(/\/+$/, '');
  const engine = new ProxyEngine({
    origin: url.origin,
    connectTimeoutMs: settings.connect_timeout,
    headersTimeoutMs: settings.timeout,
    bodyTimeoutMs: settings.body_timeout,
    maxHeaderSize: ctx.config.raw.server.max_header_size,
  });
  const cookies = sessionCookie(ctx.config);
  const admission = new RequestAdmission({
    policy: new RequestHeaderPolicy(ctx.headerNames, cookies.name),
    isTrusted: (peer) => isTrusted(ctx, peer),
    // Portcullis does not terminate TLS: without a trusted X-Forwarded-Proto, requests are taken
    // to have reached the front door the way public_url says people reach it.
    defaultScheme: ctx.config.publicUrl.protocol === 'https:' ? 'https' : 'http',
    logger: ctx.logger,
  });
  const tunnels = watchOpenSockets({
    resolve: (cookie) => ctx.sessions.resolve(cookie),
    onSessionRevoked: (listener) => ctx.store.onSessionRevoked(listener),
    logger: ctx.logger,
  });
  const pipeline = new CheckPipeline(ctx);
  const family = identityFamily(ctx);
  const headers = { preserveHost: settings.preserve_host, upstreamHost: url.host };
  const refusals = new RequestRefusals(ctx);
  const requests = new RequestPath({ family, engine, refusals, headers, basePath });
  const upgrades = new UpgradePath({
    family,
    engine,
    pipeline,
    tunnels,
    headers,
    basePath,
    baseUrl: ctx.baseUrl,
    logger: ctx.logger,
  });
  const parts = { admission, cookies, pipeline, requests, upgrades, refusals, engine, tunnels };
  return new AuthenticatingProxy(parts);
}

/** Only the identity headers: they are appended to the client's, filtered. */
function identityFamily(ctx: AppContext): HeaderFamily {
  const names = ctx.headerNames;
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
