/**
 * The closed set of errors portcullis turns into HTTP answers (src/http/problem.ts is the one
 * place that does). Detail is for the log only; the public message is what the client reads.
 */
export type ErrorCode =
  | 'bad_request'
  | 'unknown_target'
  | 'unauthenticated'
  | 'csrf'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'request_timeout'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'headers_too_large'
  | 'internal'
  | 'upstream_unavailable'
  | 'store_unavailable'
  | 'busy'
  | 'shutting_down'
  | 'upstream_timeout';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unknown_target: 400,
  unauthenticated: 401,
  csrf: 403,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  headers_too_large: 431,
  internal: 500,
  upstream_unavailable: 502,
  store_unavailable: 503,
  busy: 503,
  shutting_down: 503,
  upstream_timeout: 504,
};

const MESSAGE: Record<ErrorCode, string> = {
  bad_request: 'The request was malformed.',
  unknown_target:
    'The request did not say which URL it was for (forwarded headers missing, malformed, or from an untrusted address).',
  unauthenticated: 'Authentication required.',
  csrf: 'The form expired or did not come from this site. Go back, reload the page and try again.',
  forbidden: 'You are signed in, but not allowed to see this page.',
  not_found: 'There is nothing here.',
  method_not_allowed: 'This method is not allowed here.',
  request_timeout: 'The request took too long to arrive. Try again.',
  conflict: 'This conflicts with something that already exists.',
  payload_too_large: 'The request was too large.',
  rate_limited: 'Too many attempts. Wait a little and try again.',
  headers_too_large:
    'The request carries more header fields than this server accepts. Clearing this site’s cookies usually fixes it.',
  internal: 'Something went wrong on our side. Try again in a moment.',
  upstream_unavailable:
    'The application behind this sign-in is not reachable right now (it may be restarting). Try again in a moment; if it keeps happening, tell whoever runs it.',
  store_unavailable: 'The session store is unreachable. Try again in a moment.',
  busy: 'Too many requests at once right now. Try again in a moment.',
  shutting_down: 'This server is shutting down. Try again in a moment.',
  upstream_timeout:
    'The application behind this sign-in did not answer in time. Try again in a moment; if it keeps happening, tell whoever runs it.',
};

/** Seconds a client is told to wait: these failures pass by themselves, soon. */
const RETRY_AFTER: Partial<Record<ErrorCode, number>> = {
  store_unavailable: 1,
  busy: 1,
  shutting_down: 1,
};

export const ERROR_CODES: readonly ErrorCode[] = Object.keys(STATUS) as ErrorCode[];

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(STATUS, value);
}

export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

export interface ErrorOptions {
  /** Seconds for `Retry-After`; null for none. Defaults per code. */
  retryAfter?: number | null;
}

export class PortcullisError extends Error {
  readonly status: number;
  readonly publicMessage: string;
  readonly retryAfter: number | null;
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    publicMessage?: string,
    options: ErrorOptions = {},
  ) {
    super(detail ?? code);
    this.name = 'PortcullisError';
    this.status = STATUS[code];
    this.publicMessage = publicMessage ?? MESSAGE[code];
    this.retryAfter =
      options.retryAfter === undefined ? (RETRY_AFTER[code] ?? null) : options.retryAfter;
  }
}

export function isPortcullisError(value: unknown): value is PortcullisError {
  return value instanceof PortcullisError;
}
