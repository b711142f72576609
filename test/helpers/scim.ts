/**
 * What the SCIM tests share: the provisioning credentials (Okta sends Basic, Entra ID a bearer
 * token), the schema URNs of RFC 7643/7644, and one request helper against `/scim/v2`.
 */
export const BASIC_ENV = { SCIM_USER: 'okta', SCIM_PASSWORD: 'okta-secret-pw' };
/** Basic for Okta and a bearer token for Entra ID, both accepted. */
export const ENV = { ...BASIC_ENV, SCIM_BEARER_TOKEN: 'entra-token-0123456789' };
export const BASIC = `Basic ${Buffer.from('okta:okta-secret-pw').toString('base64')}`;
export const BEARER = 'Bearer entra-token-0123456789';

export const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

export type Json = Record<string, unknown>;

export interface ScimResult {
  status: number;
  headers: Headers;
  json: Json;
}

/**
 * One SCIM request to the app at `baseUrl`: `body` is sent as JSON (a string as is, for malformed
 * bodies); `auth` null sends no credentials. An empty answer gives `json` null.
 */
export async function scimRequest(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  auth: string | null = BASIC,
  headers: Record<string, string> = {},
): Promise<ScimResult> {
  const response = await fetch(`${baseUrl}/scim/v2${path}`, {
    method,
    headers: {
      ...(auth ? { authorization: auth } : {}),
      ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    json: (text ? JSON.parse(text) : null) as Json,
  };
}
