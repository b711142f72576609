import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { readCookie } from '../core/cookies.js';
import { type Decision, decide } from '../core/decide.js';
import { type Target, targetUrl } from '../core/target.js';
import { TargetCache } from '../core/target-cache.js';
import type { AppContext } from '../http/context.js';
import {
  failureHeaders,
  headersFor,
  loginUrl,
  sendLoginAnswer,
  sessionLookupFailure,
} from '../http/forward-auth.js';
import { sendProblem } from '../http/pages.js';
import { isTrusted } from '../http/request.js';
import { StoreUnavailableError } from '../ports/store.js';
import type { Lookup } from '../services/sessions.js';
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
  const policy = new RequestHeaderPolicy(ctx.headerNames, ctx.config.raw.session.cookie_name);
  const cookieName = ctx.config.raw.session.cookie_name;
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
  function upstreamHeaders(
    checked: Checked,
    decision: Decision & { kind: 'allow' },
    lookup: Lookup | null,
  ): string[] {
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
    if (decision.identity) {
      const identity = headersFor(ctx, decision.identity, lookup);
      for (let i = 0; i < identity.length; i++) headers.push(identity[i] as string);
    }
    return headers;
  }

  function decideFor(target: Target, lookup: Lookup | null): Decision {
    const identity = lookup?.kind === 'valid' ? lookup.live.identity : null;
    return decide(ctx.policy, target, identity, ctx.anonymousUser);
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

  function respond(
    req: IncomingMessage,
    res: ServerResponse,
    checked: Checked,
    lookup: Lookup | null,
  ): void {
    const decision = decideFor(checked.target, lookup);
    if (decision.kind === 'allow') {
      const hasBody = checked.scan.hasBody;
      engine.forward(
        req,
        res,
        basePath + (req.url as string),
        upstreamHeaders(checked, decision, lookup),
        hasBody,
        sendFailure,
      );
      return;
    }
    // Refused: the body is not read. `Connection: close` says so, and the server closes the
    // socket once the answer is out (a trickled body would otherwise hold it indefinitely).
    if (checked.scan.hasBody) res.shouldKeepAlive = false;
    if (decision.kind === 'deny') {
      ctx.logger.debug(
        { reason: decision.reason, rule: decision.rule, user: decision.identity.id },
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
    sendLoginAnswer(req, res, checked.target, loginUrl(ctx, targetUrl(checked.target)));
  }

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
    const cookie = readCookie(checked.scan.cookie, cookieName);
    if (cookie === undefined || cookie === '') {
      respond(req, res, checked, null);
      return;
    }
    const cached = ctx.sessions.peek(cookie);
    if (cached) {
      respond(req, res, checked, cached);
      return;
    }
    ctx.sessions.resolve(cookie).then(
      (lookup) => respond(req, res, checked, lookup),
      (error: unknown) => {
        const failure = sessionLookupFailure(ctx, error, 'proxy check');
        if (res.headersSent) return;
        if (checked.scan.hasBody) res.shouldKeepAlive = false;
        sendProblem(
          ctx,
          req,
          res,
          failure.status,
          failure.code,
          failure.publicMessage,
          failureHeaders(failure),
        );
      },
    );
  }

  function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const refuse = (status: number, message: string, extra: string[] = []) =>
      refuseUpgrade(socket, status, { error: message }, extra);
    const handshake = checkHandshake(req.method ?? 'GET', req.headers);
    if (!handshake.ok) {
      refuse(handshake.status, handshake.reason, handshake.headers);
      return;
    }
    const checked = check(req);
    if (typeof checked === 'string') {
      refuse(400, checked);
      return;
    }
    const cookie = readCookie(checked.scan.cookie, cookieName) || null;
    const proceed = (lookup: Lookup | null) => {
      if (socket.destroyed) return;
      const decision = decideFor(checked.target, lookup);
      if (decision.kind === 'login') {
        // A WebSocket cannot follow a redirect: say 401 and where to sign in.
        const login = loginUrl(ctx, targetUrl(checked.target));
        refuseUpgrade(socket, 401, { error: 'unauthenticated', login_url: login });
        return;
      }
      if (decision.kind === 'deny') {
        refuse(403, 'forbidden');
        return;
      }
      const sessionId = lookup?.kind === 'valid' ? lookup.live.session.id : null;
      const target = checked.target;
      engine.upgrade(
        socket,
        head,
        basePath + (req.url as string),
        upstreamHeaders(checked, decision, lookup),
        {
          open: (tunnel) => {
            tunnels.add({
              tunnel,
              cookie: sessionId === null ? null : cookie,
              sessionId,
              stillAllowed: (fresh) => decideFor(target, fresh).kind === 'allow',
            });
          },
          fail: (failure) => {
            ctx.logger.warn(
              { status: failure.status, reason: failure.reason },
              'upstream failed a WebSocket handshake',
            );
            refuse(
              failure.status,
              failure.status === 504 ? 'upstream timeout' : 'upstream unavailable',
            );
          },
        },
      );
    };
    if (cookie === null) {
      proceed(null);
      return;
    }
    ctx.sessions.resolve(cookie).then(proceed, (error: unknown) => {
      if (error instanceof StoreUnavailableError)
        refuse(503, 'session store unavailable', ['Retry-After', '1']);
      else {
        ctx.logger.error({ err: error }, 'session lookup failed during a WebSocket handshake');
        refuse(500, 'internal error');
      }
    });
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
