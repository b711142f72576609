import { type ErrorCode, PortcullisError } from '../core/errors.js';

/** RFC 7644 §3.12 `scimType` values portcullis answers with. */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** The statuses SCIM answers errors with, each one code of the closed set. */
const CODE = {
  400: 'bad_request',
  401: 'unauthenticated',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
  500: 'internal',
  503: 'store_unavailable',
} as const satisfies Record<number, ErrorCode>;

export type ScimStatus = keyof typeof CODE;

/** The RFC 7644 §3.12 error body. `detail` is shown to the client: never put secrets in it. */
export function scimErrorBody(
  status: number,
  detail: string,
  scimType?: ScimType,
): Record<string, unknown> {
  return {
    schemas: [ERROR_SCHEMA],
    status: String(status),
    ...(scimType ? { scimType } : {}),
    detail,
  };
}

/**
 * A SCIM error: a `PortcullisError` whose public message is its `detail`, with the `scimType`
 * the envelope carries. `code` picks among codes that share a status (503: store or busy).
 */
export class ScimError extends PortcullisError {
  constructor(
    status: ScimStatus,
    detail: string,
    readonly scimType?: ScimType,
    code: ErrorCode = CODE[status],
  ) {
    super(code, detail, detail);
    this.name = 'ScimError';
  }

  get detail(): string {
    return this.publicMessage;
  }

  toJSON(): Record<string, unknown> {
    return scimErrorBody(this.status, this.detail, this.scimType);
  }
}

export const badRequest = (scimType: ScimType, detail: string) =>
  new ScimError(400, detail, scimType);

export const notFound = (what: string) => new ScimError(404, `${what} not found`);

/** 409 `uniqueness` (RFC 7644 §3.12): a userName, externalId, email or group name in use. */
export const taken = (detail: string) => new ScimError(409, detail, 'uniqueness');
