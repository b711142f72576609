import type { Logger } from 'pino';
import type { Target } from '../core/target.js';
import type { CheckPipeline } from '../http/check/pipeline.js';
import type { Lookup } from '../services/sessions.js';
import type { Tunnel } from './engine.js';
import { type TunnelEntry, TunnelRegistry } from './tunnels.js';

/** How often open WebSockets are re-decided (revocations themselves close sockets at once). */
export const RECHECK_MS = 2000;

/**
 * How often sockets opened with an app token are re-decided. Token revocations have no feed: the
 * token cache (at most 1 s) bounds them, so a revoked token's sockets close within about 1.25 s.
 */
export const TOKEN_RECHECK_MS = 250;

export interface SocketRecheckDeps {
  resolve(cookie: string): Promise<Lookup>;
  /** The store's revocation feed (every instance's revocations). */
  onSessionRevoked(listener: (sessionId: string) => void): void;
  logger: Logger;
}

/** The registry of open WebSockets, swept every RECHECK_MS and told of every revocation. */
export function watchOpenSockets(deps: SocketRecheckDeps): TunnelRegistry {
  const tunnels = new TunnelRegistry(
    (cookie) => deps.resolve(cookie),
    deps.logger,
    RECHECK_MS,
    TOKEN_RECHECK_MS,
  );
  deps.onSessionRevoked((sessionId) => tunnels.revoke(sessionId));
  return tunnels;
}

/** An open WebSocket, re-decided on each sweep by the same rules that let it open. */
export class RecheckedSocket implements TunnelEntry {
  constructor(
    readonly tunnel: Tunnel,
    readonly cookie: string | null,
    readonly sessionId: string | null,
    private readonly pipeline: Pick<CheckPipeline, 'decision' | 'recheckToken'>,
    private readonly target: Target,
    /** The app token the socket was opened with, or null. */
    readonly token: string | null = null,
  ) {}

  stillAllowed(fresh: Lookup): boolean {
    return this.pipeline.decision(this.target, fresh).kind === 'allow';
  }

  tokenStillAllowed(): Promise<boolean> {
    return this.token === null
      ? Promise.resolve(true)
      : this.pipeline.recheckToken(this.target, this.token);
  }
}
