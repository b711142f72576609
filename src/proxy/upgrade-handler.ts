import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Timer, Timers } from '../core/clock.js';
import { joinSockets, type Tunnel } from './join-sockets.js';
import { clientResponseHeaders } from './response-headers.js';
import { type UpstreamFailure, upstreamFailure } from './upstream-failure.js';

export interface UpgradeListener {
  /** The upstream accepted (101) and the sockets are joined. */
  open(tunnel: Tunnel): void;
  /** Nothing reached the client yet: the caller answers with an error page. */
  fail(failure: UpstreamFailure): void;
}

function onHandshakeLate(handler: UpgradeHandler): void {
  handler.timedOut();
}

/** A WebSocket handshake and, once the upstream agrees, the tunnel it becomes. */
export class UpgradeHandler {
  private abort: ((error?: Error) => void) | null = null;
  private clientGone = false;
  private relaying = false;
  private timer: Timer | null = null;
  /** The deadline passed before undici handed over its abort. */
  private late: Error | null = null;

  constructor(
    private readonly client: Socket,
    private readonly head: Buffer,
    private readonly listener: UpgradeListener,
  ) {}

  /** `proxy.timeout` for the upstream's answer to the handshake, from dispatch. */
  start(timers: Timers, ms: number): void {
    if (ms > 0) this.timer = timers.start(ms, onHandshakeLate, this);
  }

  timedOut(): void {
    this.timer = null;
    const error = Object.assign(new Error('no answer to the WebSocket handshake in time'), {
      code: 'UND_ERR_HEADERS_TIMEOUT',
    });
    if (this.abort === null) this.late = error;
    else this.abort(error);
  }

  private clearTimer(): void {
    this.timer?.close();
    this.timer = null;
  }

  readonly onClientClose = (): void => {
    this.clientGone = true;
    this.clearTimer();
    this.abort?.();
  };

  onConnect(abort: (error?: Error) => void): void {
    if (this.clientGone) abort();
    else if (this.late !== null) abort(this.late);
    else this.abort = abort;
  }

  onUpgrade(statusCode: number, raw: Buffer[] | string[] | null, upstream: Duplex): void {
    this.clearTimer();
    const client = this.client;
    client.off('close', this.onClientClose);
    if (this.clientGone || client.destroyed) {
      upstream.destroy();
      return;
    }
    const headers = clientResponseHeaders((raw ?? []) as Buffer[], true);
    let head = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    client.write(`${head}\r\n`, 'latin1');
    if (this.head.length > 0) upstream.write(this.head);
    this.listener.open(joinSockets(client, upstream as Socket));
  }

  /** The upstream declined the upgrade: relay its answer, then close (never reuse this socket). */
  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.clearTimer();
    const client = this.client;
    if (this.clientGone || client.destroyed) return true;
    this.relaying = true;
    const headers = clientResponseHeaders(raw);
    let head = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Status'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) {
      const lower = (headers[i] as string).toLowerCase();
      if (lower === 'content-length') continue;
      head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    client.write(`${head}Connection: close\r\n\r\n`, 'latin1');
    client.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.clientGone) return true;
    return this.client.write(chunk);
  }

  onComplete(): void {
    this.client.off('close', this.onClientClose);
    this.client.end();
  }

  onError(error: Error): void {
    this.clearTimer();
    this.client.off('close', this.onClientClose);
    if (this.clientGone) return;
    if (this.relaying) {
      this.client.destroy();
      return;
    }
    this.listener.fail(upstreamFailure(error));
  }
}
