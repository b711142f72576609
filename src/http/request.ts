import type { IncomingMessage } from 'node:http';
import type { AppContext } from './context.js';

/** The client's address: X-Forwarded-For's last hop is believed only from a trusted proxy. */
export function clientIp(ctx: AppContext, req: IncomingMessage): string {
  const direct = req.socket.remoteAddress ?? '';
  const plain = direct.startsWith('::ffff:') ? direct.slice(7) : direct;
  const forwarded = req.headers['x-forwarded-for'];
  if (
    typeof forwarded === 'string' &&
    ctx.config.trustedProxies.check(plain, plain.includes(':') ? 'ipv6' : 'ipv4')
  ) {
    const hops = forwarded.split(',').map((s) => s.trim());
    const last = hops[hops.length - 1];
    if (last && /^[0-9a-fA-F.:]{2,45}$/.test(last)) return last;
  }
  return plain;
}

let sequence = 0;
const PROCESS_TAG = process.pid.toString(36);

/**
 * The id that ties a request's log lines together: the proxy's `X-Request-Id` when it looks
 * sane, else one made here (cheap: no randomness on the hot path).
 */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(given)) return given;
  sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER;
  return `${PROCESS_TAG}-${sequence.toString(36)}`;
}
