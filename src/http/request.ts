import type { IncomingMessage } from 'node:http';
import type { BlockList } from 'node:net';

/** The first value of a header that node may hand over as an array. */
export function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * `server.trusted_proxies`: which peers' forwarded headers are believed. Built once by the
 * composition root; answers are cached per address.
 */
export class TrustedProxies {
  private readonly cache = new Map<string, boolean>();

  constructor(private readonly list: BlockList) {}

  /** Whether a peer address is a trusted proxy. */
  isTrusted(address: string | undefined): boolean {
    if (!address) return false;
    let trusted = this.cache.get(address);
    if (trusted === undefined) {
      const v4mapped = address.startsWith('::ffff:') ? address.slice(7) : null;
      trusted = v4mapped
        ? this.list.check(v4mapped, 'ipv4')
        : this.list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(address, trusted);
    }
    return trusted;
  }

  /** The client's address: X-Forwarded-For's last hop is believed only from a trusted proxy. */
  clientIp(req: IncomingMessage): string {
    const direct = req.socket.remoteAddress ?? '';
    const plain = direct.startsWith('::ffff:') ? direct.slice(7) : direct;
    const forwarded = req.headers['x-forwarded-for'];
    if (typeof forwarded === 'string' && this.isTrusted(direct)) {
      const hops = forwarded.split(',').map((s) => s.trim());
      const last = hops[hops.length - 1];
      if (last && /^[0-9a-fA-F.:]{2,45}$/.test(last)) return last;
    }
    return plain;
  }
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
