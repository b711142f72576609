import type { Socket } from 'node:net';
import { closeFrame, FrameBoundaries } from './websocket-frames.js';

/** An open WebSocket tunnel: two sockets piped into each other. */
export interface Tunnel {
  /** Ends both sides at once (TCP close: the browser sees close code 1006 and reconnects). */
  close(): void;
  /**
   * Shutdown: sends the client a 1001 (going away) close frame between two of the upstream's
   * frames; the client's answering close frame reaches the upstream, which then hangs up.
   */
  goAway(): void;
  readonly closed: boolean;
  onClose(listener: () => void): void;
}

/** Pipes two sockets into each other; either side ending or failing ends both. */
export function joinSockets(client: Socket, upstream: Socket): Tunnel {
  const listeners: (() => void)[] = [];
  let closed = false;
  const frames = new FrameBoundaries();
  let goingAway = false;
  let saidGoodbye = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    client.destroy();
    upstream.destroy();
    for (const listener of listeners) listener();
  };
  // Small frames (chat tokens, editor events) must not wait for Nagle's algorithm.
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.setTimeout(0);
  upstream.setTimeout(0);
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  const goodbye = (): void => {
    saidGoodbye = true;
    client.write(closeFrame(1001));
    // Whatever the upstream still sends is read and dropped: the client was told goodbye.
    upstream.resume();
  };
  // Upstream to client is relayed by hand, not piped, to know where its frames begin.
  upstream.on('data', (chunk: Buffer) => {
    if (saidGoodbye) return;
    if (!goingAway) {
      frames.feed(chunk);
      if (!client.write(chunk)) upstream.pause();
      return;
    }
    const cut = frames.feed(chunk, 0, true);
    if (cut > 0) client.write(chunk.subarray(0, cut));
    if (frames.atBoundary) goodbye();
  });
  client.on('drain', () => upstream.resume());
  upstream.on('end', () => client.end());
  upstream.on('close', () => {
    // After a goodbye the client's own close frame may still be on its way out: end, not
    // destroy, and let the client's socket close the tunnel (the drain deadline bounds it).
    if (saidGoodbye && !closed) client.end();
    else close();
  });
  // A half-close is passed on (a WebSocket close handshake ends with one), then both go.
  client.pipe(upstream);
  return {
    close,
    goAway() {
      if (closed || goingAway) return;
      goingAway = true;
      if (frames.atBoundary) goodbye();
    },
    get closed() {
      return closed;
    },
    onClose(listener) {
      if (closed) listener();
      else listeners.push(listener);
    },
  };
}
