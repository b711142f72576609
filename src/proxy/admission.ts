import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Target } from '../core/target.js';
import { TargetCache } from '../core/target-cache.js';
import {
  type RequestHeaderPolicy,
  type ScannedRequest,
  scanRequestHeaders,
} from './request-headers.js';

/** A request that has passed the header scan and has a target to decide on. */
export interface Checked {
  scan: ScannedRequest;
  target: Target;
  peer: string;
}

export interface AdmissionDeps {
  policy: RequestHeaderPolicy;
  /** Whether X-Forwarded-* from this peer count (it is a trusted proxy). */
  isTrusted(peer: string | undefined): boolean;
  /** The scheme taken when no trusted X-Forwarded-Proto says otherwise. */
  defaultScheme: string;
  logger: Logger;
}

/**
 * Reads and checks a request line and its headers before anything is decided. A request that
 * cannot be passed on gets the message for its 400 instead (a string, so the hot path allocates
 * no refusal callback).
 */
export class RequestAdmission {
  private readonly targets = new TargetCache();

  constructor(private readonly deps: AdmissionDeps) {}

  admit(req: IncomingMessage): Checked | string {
    const peer = req.socket.remoteAddress;
    const scan = scanRequestHeaders(req.rawHeaders, this.deps.policy, this.deps.isTrusted(peer));
    if (scan.malformed !== null) {
      this.deps.logger.debug({ reason: scan.malformed }, 'proxy: refused a malformed request');
      return 'The request is malformed.';
    }
    const uri = req.url ?? '';
    // Only origin-form targets (`/path?query`): an absolute-form or `*` target is for a
    // forward proxy, which this is not.
    if (uri.charCodeAt(0) !== 47 /* / */) return 'The request target must be a path.';
    // A trusted proxy in front that does not set X-Forwarded-Host passes the client's through;
    // one that names another host than Host would move the decision away from the host the app
    // is asked for, so the two must agree.
    if (
      scan.forwardedHost !== undefined &&
      scan.host !== undefined &&
      scan.forwardedHost.toLowerCase() !== scan.host.toLowerCase()
    ) {
      return 'X-Forwarded-Host and Host name different hosts.';
    }
    const host = scan.forwardedHost ?? scan.host;
    if (host === undefined) return 'The request has no Host header.';
    const scheme = scan.forwardedProto ?? this.deps.defaultScheme;
    const parsed = this.targets.build(scheme, host, uri, req.method ?? 'GET');
    if (!parsed.ok) {
      this.deps.logger.debug({ reason: parsed.reason }, 'proxy: malformed request target');
      return 'The request URL or Host header is malformed.';
    }
    return { scan, target: parsed.target, peer: plainAddress(peer) };
  }
}

function plainAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
