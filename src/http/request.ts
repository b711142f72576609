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
