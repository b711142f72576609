/** The closed set of errors portcullis turns into HTTP answers. Detail is for the log only. */
export type ErrorCode =
  | 'bad_request'
  | 'unknown_target'
  | 'csrf'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'headers_too_large'
  | 'store_unavailable'
  | 'rate_limited'
  | 'forbidden'
  | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unknown_target: 400,
  csrf: 403,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  headers_too_large: 431,
  rate_limited: 429,
  internal: 500,
  store_unavailable: 503,
};

const MESSAGE: Record<ErrorCode, string> = {
  bad_request: 'The request was malformed.',
  unknown_target:
    'The request did not say which URL it was for (forwarded headers missing, malformed, or from an untrusted address).',
  csrf: 'The form expired or did not come from this site. Go back, reload the page and try again.',
  forbidden: 'You are signed in, but not allowed to see this page.',
  not_found: 'There is nothing here.',
  method_not_allowed: 'This method is not allowed here.',
  payload_too_large: 'The request was too large.',
  headers_too_large:
    'The request carries more header fields than this server accepts. Clearing this site’s cookies usually fixes it.',
  rate_limited: 'Too many attempts. Wait a little and try again.',
  internal: 'Something went wrong on our side. Try again in a moment.',
  store_unavailable: 'The session store is unreachable. Try again in a moment.',
};

export class PortcullisError extends Error {
  readonly status: number;
  readonly publicMessage: string;
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    publicMessage?: string,
  ) {
    super(detail ?? code);
    this.name = 'PortcullisError';
    this.status = STATUS[code];
    this.publicMessage = publicMessage ?? MESSAGE[code];
  }
}

export function isPortcullisError(value: unknown): value is PortcullisError {
  return value instanceof PortcullisError;
}
