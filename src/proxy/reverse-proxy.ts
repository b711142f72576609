import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Identity } from '../core/identity.js';
import { identityHeaders } from '../core/identity-headers.js';
import { type Target, targetUrl } from '../core/target.js';
import { TargetCache } from '../core/target-cache.js';
import { sendLoginAnswer } from '../http/check/dialects/traefik.js';
import {
  type CheckCaller,
  CheckPipeline,
  failureHeaders,
  type HeaderFamily,
  loginUrl,
} from '../http/check/pipeline.js';
import type { AppContext } from '../http/context.js';
import { sendProblem } from '../http/pages.js';
import { isTrusted } from '../http/request.js';
import { sessionCookie } from '../http/session-cookie.js';
import { ProxyEngine } from './engine.js';
import { RequestHeaderPolicy, type ScannedRequest, scanRequestHeaders } from './request-headers.js';
import { TunnelRegistry } from './tunnels.js';
import { failureMessage, type UpstreamFailure } from './upstream-failure.js';
import { checkHandshake } from './websocket-handshake.js';

/** How often open WebSockets are re-decided (revocations themselves close sockets at once). */
const RECHECK_MS = 2000;

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

/** A request that has passed the header scan and has a target to decide on. */
interface Checked {
  scan: ScannedRequest;
  target: Target;
  peer: string;
}

/** A WebSocket handshake on its way through the pipeline. */
interface Upgrading {
  checked: Checked;
  head: Buffer;
  cookie: string | undefined;
}

function noConstraint(): null {
  return null;
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
  const upstreamHost = url.host;
  const cookies = sessionCookie(ctx.config);
  const policy = new RequestHeaderPolicy(ctx.headerNames, cookies.name);
  // Portcullis does not terminate TLS: without a trusted X-Forwarded-Proto, requests are taken
  // to have reached the front door the way public_url says people reach it.
  const defaultScheme = ctx.config.publicUrl.protocol === 'https:' ? 'https' : 'http';
  const tunnels = new TunnelRegistry(
    (cookie) => ctx.sessions.resolve(cookie),
    ctx.logger,
    RECHECK_MS,
  );
  ctx.store.onSessionRevoked((sessionId) => tunnels.revoke(sessionId));
  const refusedSockets = new WeakSet<object>();
  const targets = new TargetCache();
  const pipeline = new CheckPipeline(ctx);
  // Only the identity headers: they are appended to the client's, filtered.
  const names = ctx.headerNames;
  const family: HeaderFamily = {
    memoKey: 'headers',
    build: (identity: Identity) => identityHeaders(names, identity),
  };

  /**
   * Reads and checks the request line and headers. A request that cannot be passed on gets the
   * message for its 400 instead (a string, so the hot path allocates no refusal callback).
   */
  function check(req: IncomingMessage): Checked | string {
    const peer = req.socket.remoteAddress;
    const trusted = isTrusted(ctx, peer);
    const scan = scanRequestHeaders(req.rawHeaders, policy, trusted);
    if (scan.malformed !== null) {
      ctx.logger.debug({ reason: scan.malformed }, 'proxy: refused a malformed request');
      return 'The request is malformed.';
    }
    const uri = req.url ?? '';
    // Only origin-form targets (`/path?query`): an absolute-form or `*` target is for a
    // forward proxy, which this is not.
    if (uri.charCodeAt(0) !== 47 /* / */) return 'The request target must be a path.';
    // A trusted proxy in front that does not set X-Forwarded-Host passes the client's through;
    // one that names another host than Host would move the decision away from the host the app
    // is asked for, so the two must agree.
    if (
      scan.forwardedHost !== undefined &&
      scan.host !== undefined &&
      scan.forwardedHost.toLowerCase() !== scan.host.toLowerCase()
    ) {
      return 'X-Forwarded-Host and Host name different hosts.';
    }
    const host = scan.forwardedHost ?? scan.host;
    if (host === undefined) return 'The request has no Host header.';
    const parsed = targets.build(
      scan.forwardedProto ?? defaultScheme,
      host,
      uri,
      req.method ?? 'GET',
    );
    if (!parsed.ok) {
      ctx.logger.debug({ reason: parsed.reason }, 'proxy: malformed request target');
      return 'The request URL or Host header is malformed.';
    }
    return { scan, target: parsed.target, peer: plainAddress(peer) };
  }

  /** The headers sent upstream: the client's (filtered), forwarding headers, then identity. */
  function upstreamHeaders(checked: Checked, identity: readonly string[] | null): string[] {
    const { scan, target } = checked;
    const headers = scan.headers;
    headers.push(
      'host',
      settings.preserve_host ? (scan.host ?? `${target.host}${target.port}`) : upstreamHost,
      'x-forwarded-for',
      scan.forwardedFor === undefined ? checked.peer : `${scan.forwardedFor}, ${checked.peer}`,
      'x-forwarded-proto',
      target.scheme,
      'x-forwarded-host',
      scan.forwardedHost ?? scan.host ?? target.host,
    );
    if (identity !== null) {
      for (let i = 0; i < identity.length; i++) headers.push(identity[i] as string);
    }
    return headers;
  }

  /** Answers 502/504 when the upstream fails before anything reached the client. */
  function sendFailure(failure: UpstreamFailure, res: ServerResponse): void {
    const req = res.req;
    ctx.logger.warn(
      { status: failure.status, reason: failure.reason, path: req.url?.split('?')[0] },
      'upstream failed',
    );
    if (res.headersSent || res.destroyed) return;
    sendProblem(
      ctx,
      req,
      res,
      failure.status,
      failure.status === 504 ? 'upstream_timeout' : 'upstream_unavailable',
      failureMessage(failure),
    );
  }

  /** The request path's end of the check pipeline: forward, or refuse in Traefik's wording. */
  const requests: CheckCaller<ServerResponse, Checked> = {
    family,
    during: 'proxy check',
    constraint: noConstraint,
    answer(req, res, target, answer, prepared, _lookup, checked) {
      if (answer.kind === 'allow') {
        engine.forward(
          req,
          res,
          basePath + (req.url as string),
          upstreamHeaders(checked, prepared),
          checked.scan.hasBody,
          sendFailure,
        );
        return;
      }
      if (answer.kind === 'error') {
        if (res.headersSent) return;
        if (checked.scan.hasBody) res.shouldKeepAlive = false;
        const failure = answer.error;
        sendProblem(
          ctx,
          req,
          res,
          failure.status,
          failure.code,
          failure.publicMessage,
          failureHeaders(failure),
        );
        return;
      }
      // Refused: the body is not read. `Connection: close` says so, and the server closes the
      // socket once the answer is out (a trickled body would otherwise hold it indefinitely).
      if (checked.scan.hasBody) res.shouldKeepAlive = false;
      if (answer.kind === 'deny') {
        ctx.logger.debug(
          { reason: answer.reason, rule: answer.rule, user: answer.identity.id },
          'proxy: denied',
        );
        sendProblem(
          ctx,
          req,
          res,
          403,
          'forbidden',
          'You are signed in, but not allowed to see this page.',
        );
        return;
      }
      sendLoginAnswer(req, res, target, loginUrl(ctx.baseUrl, targetUrl(target)));
    },
  };

  /** The upgrade path's end: tunnel, or refuse with JSON (a WebSocket cannot follow a redirect). */
  const upgrades: CheckCaller<Socket, Upgrading> = {
    family,
    during: 'a WebSocket handshake',
    constraint: noConstraint,
    answer(req, socket, target, answer, prepared, lookup, upgrading) {
      if (socket.destroyed) return;
      if (answer.kind === 'error') {
        if (answer.error.code === 'store_unavailable') {
          refuseUpgrade(socket, 503, { error: 'session store unavailable' }, ['Retry-After', '1']);
        } else refuseUpgrade(socket, 500, { error: 'internal error' });
        return;
      }
      if (answer.kind === 'login') {
        const login = loginUrl(ctx.baseUrl, targetUrl(target));
        refuseUpgrade(socket, 401, { error: 'unauthenticated', login_url: login });
        return;
      }
      if (answer.kind === 'deny') {
        refuseUpgrade(socket, 403, { error: 'forbidden' });
        return;
      }
      const sessionId = lookup?.kind === 'valid' ? lookup.live.session.id : null;
      const cookie = sessionId === null ? null : (upgrading.cookie ?? null);
      engine.upgrade(
        socket,
        upgrading.head,
        basePath + (req.url as string),
        upstreamHeaders(upgrading.checked, prepared),
        {
          open: (tunnel) => {
            tunnels.add({
              tunnel,
              cookie,
              sessionId,
              stillAllowed: (fresh) => pipeline.decision(target, fresh).kind === 'allow',
            });
          },
          fail: (failure) => {
            ctx.logger.warn(
              { status: failure.status, reason: failure.reason },
              'upstream failed a WebSocket handshake',
            );
            refuseUpgrade(socket, failure.status, {
              error: failure.status === 504 ? 'upstream timeout' : 'upstream unavailable',
            });
          },
        },
      );
    },
  };

  function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    // A request pipelined behind a refused one on the same connection is not served either.
    if (refusedSockets.has(req.socket)) {
      res.destroy();
      return;
    }
    const checked = check(req);
    if (typeof checked === 'string') {
      // The rest of a refused request is not read: the connection cannot be reused.
      res.shouldKeepAlive = false;
      refusedSockets.add(req.socket);
      sendProblem(ctx, req, res, 400, 'bad_request', checked);
      return;
    }
    const cookie = cookies.readHeader(checked.scan.cookie);
    pipeline.run(req, res, checked.target, cookie, requests, checked);
  }

  function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const handshake = checkHandshake(req.method ?? 'GET', req.headers);
    if (!handshake.ok) {
      refuseUpgrade(socket, handshake.status, { error: handshake.reason }, handshake.headers);
      return;
    }
    const checked = check(req);
    if (typeof checked === 'string') {
      refuseUpgrade(socket, 400, { error: checked });
      return;
    }
    const cookie = cookies.readHeader(checked.scan.cookie);
    pipeline.run(req, socket, checked.target, cookie, upgrades, { checked, head, cookie });
  }

  return {
    handleRequest,
    handleUpgrade,
    get openTunnels() {
      return tunnels.size;
    },
    get upstreamConnections() {
      return engine.upstreamConnections;
    },
    drainTunnels() {
      return tunnels.goAwayAll();
    },
    async close() {
      tunnels.closeAll();
      await engine.close();
    },
  };
}

function plainAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Answers a handshake that will not be forwarded, as JSON, and closes the connection. */
function refuseUpgrade(
  socket: Socket,
  status: number,
  answer: Record<string, string>,
  headers: string[] = [],
): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(answer);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  head += `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`;
  socket.end(head + body);
}
