import type { IncomingMessage } from 'node:http';
import type { AppContext } from './context.js';

/** The first value of a header that node may hand over as an array. */
export function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

// Per trusted_proxies list, so two apps in one process (tests) never share answers.
const trustCaches = new WeakMap<object, Map<string, boolean>>();

/** Whether a peer address is in `server.trusted_proxies` (its forwarded headers are believed). */
export function isTrusted(ctx: AppContext, address: string | undefined): boolean {
  if (!address) return false;
  const list = ctx.config.trustedProxies;
  let cache = trustCaches.get(list);
  if (!cache) {
    cache = new Map();
    trustCaches.set(list, cache);
  }
  let trusted = cache.get(address);
  if (trusted === undefined) {
    const v4mapped = address.startsWith('::ffff:') ? address.slice(7) : null;
    trusted = v4mapped
      ? list.check(v4mapped, 'ipv4')
      : list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
    if (cache.size > 10_000) cache.clear();
    cache.set(address, trusted);
  }
  return trusted;
}

/** The client's address: X-Forwarded-For's last hop is believed only from a trusted proxy. */
export function clientIp(ctx: AppContext, req: IncomingMessage): string {
  const direct = req.socket.remoteAddress ?? '';
  const plain = direct.startsWith('::ffff:') ? direct.slice(7) : direct;
  const forwarded = req.headers['x-forwarded-for'];
  if (typeof forwarded === 'string' && isTrusted(ctx, direct)) {
    const hops = forwarded.split(',').map((s) => s.trim());
    const last = hops[hops.length - 1];
    if (last && /^[0-9a-fA-F.:]{2,45}$/.test(last)) return last;
  }
  return plain;
}

let sequence = 0;
const PROCESS_TAG = process.pid.toString(36);
/** Ids made here, so every line of one request (an audit line, an error) carries the same one. */
const madeIds = new WeakMap<IncomingMessage, string>();

/**
 * The id that ties a request's log lines together: the proxy's `X-Request-Id` when it looks
 * sane, else one made here (cheap: no randomness on the hot path).
 */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(given)) return given;
  let made = madeIds.get(req);
  if (made === undefined) {
    sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER;
    made = `${PROCESS_TAG}-${sequence.toString(36)}`;
    madeIds.set(req, made);
  }
  return made;
}
