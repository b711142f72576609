import type { Identity } from '../../core/identity.js';
import { type HeaderNames, headerValue, identityHeaders } from '../../core/identity-headers.js';
import { autheliaNames, autheliaVerify } from './dialects/authelia.js';
import { nginx } from './dialects/nginx.js';
import { oauth2Proxy, oauth2ProxyNames } from './dialects/oauth2-proxy.js';
import type { CheckNames } from './dialects/shared.js';
import { traefik } from './dialects/traefik.js';
import type { HeaderFamily } from './pipeline.js';

/**
 * What a forward-auth endpoint is made of besides the pipeline: a dialect and a header family.
 * Kept apart from the HTTP glue so a test can run the same combination in-process.
 */

/** The dialects by the name SPEC §3 gives each check path. */
export const DIALECTS = {
  nginx,
  traefik,
  oauth2: oauth2Proxy,
  verify: autheliaVerify,
} as const;

export type DialectName = keyof typeof DIALECTS;

/** The header families a check path answers with (SPEC §3). */
export type Family = 'portcullis' | 'oauth2-proxy' | 'authelia';

export function checkNames(configured: HeaderNames, family: Family): CheckNames {
  if (family === 'oauth2-proxy') return oauth2ProxyNames(configured);
  if (family === 'authelia') return autheliaNames(configured);
  return { names: configured, preferredUsername: false, memoKey: 'allow-headers' };
}

/** The whole header list of an allowed answer, Content-Length included: handed to `writeHead` as is. */
export function allowedAnswer(names: CheckNames): HeaderFamily {
  return {
    memoKey: names.memoKey,
    build(identity: Identity): string[] {
      const headers = identityHeaders(names.names, identity);
      if (names.preferredUsername) {
        headers.push('X-Auth-Request-Preferred-Username', headerValue(identity.username));
      }
      headers.push('Content-Length', '0');
      return headers;
    },
  };
}
