import { z } from 'zod';
import { cookieDomainProblem } from '../core/public-suffix.js';
import { accessSchema } from './access-schema.js';
import { authSchema } from './auth-schema.js';
import { duration, headerName, hostPort, httpUrl } from './schema-types.js';
import { serverSchema } from './server-schema.js';
import { storeSchema } from './store-schema.js';

export { describeStore, storeIsRedis } from './store-schema.js';

/**
 * The one config schema: defaults live here and in the section schemas it assembles
 * (`server-schema.ts`, `auth-schema.ts`, `store-schema.ts`, `access-schema.ts`) and nowhere
 * else. `config/portcullis.example.yaml` documents every key and a test parses it against it.
 */

const COOKIE_DOMAIN = /^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i;

const headerList = z.array(headerName);

export const configSchema = z.strictObject({
  server: serverSchema,
  anonymous_mode: z.boolean().default(false),
  anonymous_user: z
    .strictObject({
      id: z.string().min(1).default('anonymous'),
      email: z.string().min(1).default('anonymous@localhost'),
      name: z.string().min(1).default('Anonymous'),
    })
    .prefault({}),
  secrets_file: z.string().min(1).optional(),
  auth: authSchema,
  session: z
    .strictObject({
      cookie_name: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be letters, digits, _ or -')
        .default('portcullis_session'),
      cookie_domain: z
        .string()
        .regex(COOKIE_DOMAIN, 'must be a domain such as .example.com')
        .superRefine((domain, ctx) => {
          // One message per value: a malformed one is already reported by the pattern.
          const problem = COOKIE_DOMAIN.test(domain) ? cookieDomainProblem(domain) : null;
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .nullable()
        .default(null),
      lifetime: duration.default(30 * 86_400_000),
      idle_timeout: duration.nullable().default(null),
    })
    .prefault({}),
  store: storeSchema,
  access: accessSchema,
  headers: z
    .strictObject({
      user: headerList.default(['Remote-User', 'X-Auth-Request-User']),
      email: headerList.default(['Remote-Email', 'X-Auth-Request-Email']),
      name: headerList.default(['Remote-Name']),
      groups: headerList.default(['Remote-Groups', 'X-Auth-Request-Groups']),
      /** null: every group; `rules`: those the access rules name; a list: those. */
      groups_filter: z
        .union([z.literal('rules'), z.array(z.string().min(1)).min(1)])
        .nullable()
        .default(null),
      /** What the `user` headers carry: the username (default), the email, or the internal id. */
      user_value: z.enum(['username', 'email', 'id']).default('username'),
    })
    .prefault({}),
  admin: z
    .strictObject({
      emails: z.array(z.string().min(1)).default([]),
      // No default: a group name an IdP or SCIM client can create must never make admins unasked.
      groups: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  tokens: z
    .strictObject({
      /** App tokens (`pcx_…`) for native apps and scripts. */
      enabled: z.boolean().default(true),
      /** A header that may carry a token besides Authorization / Proxy-Authorization. */
      header: headerName.nullable().default('X-Portcullis-Token'),
      /** The longest expiry a token may be given; tokens without one expire after this too. */
      max_lifetime: duration.default(365 * 86_400_000),
    })
    .prefault({}),
  cors: z
    .strictObject({
      /** Exact origins (scheme://host[:port]) whose cross-origin requests get CORS answers. */
      allowed_origins: z
        .array(
          z
            .string()
            .regex(
              /^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+$/,
              'must be an exact origin such as app://obsidian.md or https://app.example.com',
            ),
        )
        .default([]),
    })
    .prefault({}),
  scim: z.strictObject({ enabled: z.boolean().default(false) }).prefault({}),
  proxy: z
    .strictObject({
      upstream: httpUrl.nullable().default(null),
      /** true: the upstream sees the Host the client sent; false: the upstream's own host:port. */
      preserve_host: z.boolean().default(true),
      /** Opening a connection to the upstream; past it the client gets 504. */
      connect_timeout: duration.default(10_000),
      /** Waiting for the upstream's response headers; past it the client gets 504. */
      timeout: duration.default(60_000),
      /** Longest silence inside a request or response body (not WebSockets); null: no limit. */
      body_timeout: duration.nullable().default(300_000),
    })
    .prefault({}),
  metrics: z.strictObject({ listen: hostPort.nullable().default(null) }).prefault({}),
  ui: z
    .strictObject({
      product_name: z.string().min(1).max(60).default('Portcullis'),
      logo_file: z
        .string()
        .regex(/\.(png|svg|jpe?g|gif|webp)$/i, 'must be a .png, .svg, .jpg, .gif or .webp file')
        .nullable()
        .default(null),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      format: z.enum(['json', 'text']).default('json'),
    })
    .prefault({}),
});

/** What the schema returns: `server.public_url` may still be null. */
export type ParsedConfig = z.output<typeof configSchema>;

/**
 * The config file as written, after defaults and transforms — including `server.public_url`,
 * which parse.ts derives from `server.listen` when the file and environment leave it unset.
 */
export type RawConfig = Omit<ParsedConfig, 'server'> & {
  server: Omit<ParsedConfig['server'], 'public_url'> & { public_url: string };
};
