import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Target } from '../core/target.js';
import type { CheckCaller, CheckPipeline, HeaderFamily, Verdict } from '../http/check/pipeline.js';
import type { Checked } from './admission.js';
import type { ProxyEngine, Tunnel, UpgradeListener } from './engine.js';
import { refuseCheckedUpgrade, refuseFailedUpgrade } from './refusals.js';
import { RecheckedSocket } from './socket-recheck.js';
import type { TunnelRegistry } from './tunnels.js';
import type { UpstreamFailure } from './upstream-failure.js';
import { stripCredentials, type UpstreamHeaderDeps, upstreamHeaders } from './upstream-headers.js';

/** A WebSocket handshake on its way through the pipeline. */
export interface Upgrading {
  checked: Checked;
  head: Buffer;
  cookie: string | undefined;
}

export interface UpgradePathDeps {
  family: HeaderFamily;
  engine: ProxyEngine;
  pipeline: Pick<CheckPipeline, 'decision' | 'challenge' | 'recheckToken'>;
  tunnels: TunnelRegistry;
  headers: UpstreamHeaderDeps;
  basePath: string;
  baseUrl: string;
  logger: Logger;
}

/** The upgrade path's end of the check pipeline: tunnel, or refuse with JSON. */
export class UpgradePath implements CheckCaller<Socket, Upgrading> {
  readonly family: HeaderFamily;
  readonly during = 'a WebSocket handshake';

  constructor(private readonly deps: UpgradePathDeps) {
    this.family = deps.family;
  }

  constraint(): null {
    return null;
  }

  answer(req: IncomingMessage, socket: Socket, verdict: Verdict, upgrading: Upgrading): void {
    if (socket.destroyed) return;
    const { target, answer, lookup, credential } = verdict;
    const deps = this.deps;
    if (answer.kind !== 'allow') {
      const challenge = () => deps.pipeline.challenge(req, verdict);
      refuseCheckedUpgrade(socket, verdict, answer, deps.baseUrl, challenge);
      return;
    }
    const sessionId = lookup?.kind === 'valid' ? lookup.live.session.id : null;
    const cookie = sessionId === null ? null : (upgrading.cookie ?? null);
    let token: string | null = null;
    if (credential !== null) {
      stripCredentials(upgrading.checked, credential.strip);
      if (credential.kind === 'token') token = credential.token;
    }
    deps.engine.upgrade(
      socket,
      upgrading.head,
      deps.basePath + (req.url as string),
      upstreamHeaders(deps.headers, upgrading.checked, verdict.prepared),
      new HandshakeListener(deps, socket, target, cookie, sessionId, token),
    );
  }
}

/** One allowed handshake waiting on the upstream: registered once open, refused if it fails. */
class HandshakeListener implements UpgradeListener {
  constructor(
    private readonly deps: UpgradePathDeps,
    private readonly socket: Socket,
    private readonly target: Target,
    private readonly cookie: string | null,
    private readonly sessionId: string | null,
    private readonly token: string | null,
  ) {}

  open(tunnel: Tunnel): void {
    const { cookie, sessionId, token } = this;
    this.deps.tunnels.add(
      new RecheckedSocket(tunnel, cookie, sessionId, this.deps.pipeline, this.target, token),
    );
  }

  fail(failure: UpstreamFailure): void {
    refuseFailedUpgrade(this.socket, failure, this.deps.logger);
  }
}
