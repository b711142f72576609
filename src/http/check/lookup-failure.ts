import type { Logger } from 'pino';
import { PortcullisError } from '../../core/errors.js';
import { StoreUnavailableError } from '../../ports/store.js';

/**
 * A session (or app token) lookup that failed: 503 while the store is away (it comes back by
 * itself; `failureHeaders` adds Retry-After), a logged 500 for any other fault.
 */
export function lookupFailure(logger: Logger, error: unknown, during: string): PortcullisError {
  if (error instanceof StoreUnavailableError) {
    logger.warn({ err: error.message }, 'session store unreachable');
    return new PortcullisError('store_unavailable', error.message);
  }
  logger.error({ err: error }, `session lookup failed during ${during}`);
  return new PortcullisError(
    'internal',
    (error as Error | undefined)?.message,
    'Something went wrong while checking your session. Try again; if it persists, tell the administrator.',
  );
}

/** Extra headers for an error answer. */
export function failureHeaders(failure: PortcullisError): string[] {
  return failure.code === 'store_unavailable' ? ['Retry-After', '1'] : [];
}
