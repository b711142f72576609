import { createHash, timingSafeEqual } from 'node:crypto';

export interface ScimCredentials {
  user: string | null;
  password: string | null;
  bearerToken: string | null;
}

/**
 * Compares through SHA-256 digests: `timingSafeEqual` needs equal lengths, and comparing
 * digests hides the secret's length as well as its content.
 */
function same(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** True when the Authorization header carries the configured Basic or Bearer credentials. */
export function checkCredentials(
  header: string | undefined,
  credentials: ScimCredentials,
): boolean {
  if (!header || header.length > 8192) return false;
  const space = header.indexOf(' ');
  if (space === -1) return false;
  const scheme = header.slice(0, space).toLowerCase();
  const rest = header.slice(space + 1).trim();
  if (scheme === 'bearer') {
    return credentials.bearerToken !== null && same(rest, credentials.bearerToken);
  }
  if (scheme === 'basic') {
    if (credentials.user === null || credentials.password === null) return false;
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return false;
    // Both halves are always compared, so the answer's timing says nothing about which was wrong.
    const userOk = same(decoded.slice(0, colon), credentials.user);
    const passwordOk = same(decoded.slice(colon + 1), credentials.password);
    return userOk && passwordOk;
  }
  return false;
}

/** `WWW-Authenticate` values for a 401 (RFC 7617, RFC 6750 §3): one per configured scheme. */
export function challenges(credentials: ScimCredentials): string[] {
  const out: string[] = [];
  if (credentials.user !== null && credentials.password !== null)
    out.push('Basic realm="SCIM", charset="UTF-8"');
  if (credentials.bearerToken !== null) out.push('Bearer realm="SCIM"');
  return out;
}
