import type { IncomingHttpHeaders } from 'node:http';

export type HandshakeCheck =
  | { ok: true }
  | { ok: false; status: 400 | 426; reason: string; headers: string[] };

/**
 * Checks an upgrade request before anything reaches the upstream (RFC 6455 §4.2.1). Only
 * WebSocket is tunnelled: an `Upgrade: h2c` passed through would let a client talk HTTP/2 to
 * the app on a connection the proxy no longer inspects (h2c smuggling).
 */
export function checkHandshake(method: string, headers: IncomingHttpHeaders): HandshakeCheck {
  const upgrade = headers.upgrade;
  if (
    upgrade === undefined ||
    !upgrade
      .toLowerCase()
      .split(',')
      .some((token) => token.trim() === 'websocket')
  ) {
    return { ok: false, status: 400, reason: 'only WebSocket upgrades are supported', headers: [] };
  }
  if (method !== 'GET') {
    return { ok: false, status: 400, reason: 'a WebSocket handshake must be a GET', headers: [] };
  }
  const connection = headers.connection;
  if (
    connection === undefined ||
    !connection
      .toLowerCase()
      .split(',')
      .some((token) => token.trim() === 'upgrade')
  ) {
    return { ok: false, status: 400, reason: 'Connection does not name upgrade', headers: [] };
  }
  const version = headers['sec-websocket-version'];
  if (version !== '13') {
    return {
      ok: false,
      status: 426,
      reason: 'unsupported WebSocket version',
      headers: ['Sec-WebSocket-Version', '13'],
    };
  }
  const key = headers['sec-websocket-key'];
  if (key === undefined || !isValidKey(key)) {
    return { ok: false, status: 400, reason: 'invalid Sec-WebSocket-Key', headers: [] };
  }
  return { ok: true };
}

/** A key is 16 random bytes in base64: 22 characters and `==`. */
function isValidKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{21}[AQgw]==$/.test(key.trim());
}
