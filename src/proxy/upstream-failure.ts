import { PortcullisError } from '../core/errors.js';

/** Why the upstream could not answer, worded for the person who sees the 502/504 page. */
export interface UpstreamFailure {
  status: 502 | 504;
  /** For the log: the client error code or message. */
  reason: string;
}

const TIMEOUTS = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** Maps a client error to 504 (the upstream is too slow) or 502 (down, refused, broken answer). */
export function upstreamFailure(error: Error): UpstreamFailure {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const reason = code || error.message;
  return { status: TIMEOUTS.has(code) ? 504 : 502, reason };
}

/** The failure as the closed error type, for the one error mapper (src/http/problem.ts). */
export function upstreamError(failure: UpstreamFailure): PortcullisError {
  return new PortcullisError(
    failure.status === 504 ? 'upstream_timeout' : 'upstream_unavailable',
    failure.reason,
  );
}

export function failureMessage(failure: UpstreamFailure): string {
  return upstreamError(failure).publicMessage;
}
