import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { buildConnector } from 'undici';
import type { Timers } from '../core/clock.js';

/**
 * Opens the engine's connections to the upstream, with `connect_timeout` on our timers (so
 * tests move it by hand, like the other deadlines). What undici's default connector does for
 * one origin: TCP (or TLS, ALPN http/1.1, sessions resumed) with no Nagle delay and TCP
 * keep-alive; the attempt is destroyed when the deadline passes. Runs once per new upstream
 * connection, never per request on a kept-alive one.
 */
export function connectorOnTimers(timers: Timers, timeoutMs: number): buildConnector.connector {
  // One origin per engine: the last TLS session it was given resumes the next handshake.
  let session: Buffer | undefined;
  const keepSession = (ticket: Buffer): void => {
    session = ticket;
  };
  return (options, callback) => {
    const tls = options.protocol === 'https:';
    const port = Number(options.port) || (tls ? 443 : 80);
    const host = unbracket(options.hostname);
    // SNI and the certificate check name the upstream from `proxy.upstream`, never
    // `options.servername`: undici fills that in from each request's Host header, which with
    // preserve_host is whatever the client sent.
    const socket: Socket = tls
      ? tlsConnect({
          host,
          port,
          servername: isNameForSni(host) ? host : undefined,
          ALPNProtocols: ['http/1.1'],
          session,
        }).on('session', keepSession)
      : netConnect({ host, port });
    const attempt = new ConnectAttempt(socket, callback);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.once(tls ? 'secureConnect' : 'connect', attempt.onConnected);
    socket.once('error', attempt.onError);
    if (timeoutMs > 0) attempt.timer = timers.start(timeoutMs, onConnectLate, attempt);
  };
}

function onConnectLate(attempt: ConnectAttempt): void {
  attempt.timedOut();
}

class ConnectAttempt {
  timer: { close(): unknown } | null = null;
  private settled = false;

  constructor(
    private readonly socket: Socket,
    private readonly callback: buildConnector.Callback,
  ) {}

  readonly onConnected = (): void => {
    if (this.settle()) this.callback(null, this.socket);
  };

  readonly onError = (error: Error): void => {
    if (this.settle()) this.callback(error, null);
  };

  timedOut(): void {
    this.timer = null;
    if (!this.settle()) return;
    const error = Object.assign(new Error('connecting to the upstream timed out'), {
      code: 'UND_ERR_CONNECT_TIMEOUT',
    });
    this.socket.destroy();
    this.callback(error, null);
  }

  /** True the first time: the attempt ends once, whichever comes first. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.timer?.close();
    this.timer = null;
    this.socket.off('error', this.onError);
    // A late error on a socket undici now owns is undici's to handle; before that, none may go
    // unheard.
    if (this.socket.listenerCount('error') === 0) this.socket.on('error', noop);
    return true;
  }
}

function noop(): void {}

/** `[::1]` (URL form) → `::1` (what net.connect takes). */
function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** SNI carries host names only, never IP literals (RFC 6066 §3). */
function isNameForSni(host: string): boolean {
  return !/^[\d.]+$/.test(host) && !host.includes(':');
}
