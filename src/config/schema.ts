import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { cookieDomainProblem } from '../core/public-suffix.js';

/**
 * The one config schema: defaults live here and nowhere else. `config/portcullis.example.yaml`
 * documents every key and a test parses it against this schema.
 */

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a duration (use 90s, 15m, 12h, 30d)`,
    });
    return z.NEVER;
  }
  return ms;
});

/** Node's timers take at most 2^31-1 ms (about 24.8 days); a day is past any sane client bound. */
const clientTimeout = duration.refine((ms) => ms <= 86_400_000, 'must be at most 24h');

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1024,
  k: 1024,
  mb: 1024 * 1024,
  m: 1024 * 1024,
};

/** `64kb`, `16k`, `1mb` or a byte count (binary units, as nginx reads them); 1 KiB to 16 MiB. */
const byteSize = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const match = /^(\d{1,9})\s*(b|kb|k|mb|m)?$/i.exec(String(value).trim());
  const bytes = match
    ? Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] as number)
    : Number.NaN;
  if (!(bytes >= 1024 && bytes <= 16 * 1024 * 1024)) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a size between 1kb and 16mb (use 64kb, 16kb or a byte count)`,
    });
    return z.NEVER;
  }
  return bytes;
});

const hostPort = z.string().refine(
  (value) => {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
    return match !== null && Number(match[2]) <= 65535;
  },
  { message: 'must be host:port, e.g. 127.0.0.1:4180' },
);

const cidr = z.string().refine(
  (value) => {
    const [address, bits, extra] = value.split('/');
    if (extra !== undefined || !address) return false;
    const family = isIP(address);
    if (family === 0) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d{1,3}$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
  },
  { message: 'must be an IP address or CIDR range, e.g. 10.0.0.0/8' },
);

// The regex keeps userinfo and whitespace out; the URL parser catches bad ports and hosts.
const httpUrl = z
  .string()
  .refine((value) => /^https?:\/\/[^/?#@\s]+(\/[^\s]*)?$/.test(value) && URL.canParse(value), {
    message: 'must be an absolute http(s) URL',
  });

// nodemailer reads host, port, credentials and TLS mode from this URL but only when it first
// sends, so a typo here would otherwise start a server whose sign-in links never go out.
const smtpUrl = z.string().refine(
  (value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return (url.protocol === 'smtp:' || url.protocol === 'smtps:') && url.hostname !== '';
  },
  { message: 'must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.com:587' },
);

/**
 * `memory://` exactly (anything else is taken for Redis), or a Redis URL that parses: the Redis
 * client only parses it when the server starts, and the path, if any, is the database number.
 */
function isStoreUrl(value: string): boolean {
  if (value === 'memory://') return true;
  if (!/^rediss?:\/\//.test(value) || !URL.canParse(value)) return false;
  return /^(\/\d{0,2})?$/.test(new URL(value).pathname);
}

/** What `storeIsRedis` and `describeStore` read of the `store` section. */
interface StoreSection {
  url: string;
  sentinel: { name: string; nodes: string[] } | null;
  cluster: string[] | null;
}

/**
 * Whether the store is Redis: a Redis URL, or a Sentinel or Cluster setting, which is complete
 * on its own. Every place that picks memory or Redis asks this, so a Sentinel or Cluster setting
 * left beside the default `url: memory://` can never fall back to the (unshared) memory store.
 */
export function storeIsRedis(store: StoreSection): boolean {
  return store.url !== 'memory://' || store.sentinel !== null || store.cluster !== null;
}

/** For logs and `check-config`: where the store is, without credentials. */
export function describeStore(store: StoreSection): string {
  if (store.sentinel)
    return `redis sentinel ${store.sentinel.name} via ${store.sentinel.nodes.join(',')}`;
  if (store.cluster) return `redis cluster ${store.cluster.join(',')}`;
  return store.url.replace(/\/\/[^@/]*@/, '//***@');
}

const secretKey = z.string().refine((value) => /^[0-9a-fA-F]{64,}$/.test(value), {
  message:
    'must be at least 32 random bytes written as hex (64+ hex digits); make one with: openssl rand -hex 32',
});

const emailAddress = z.string().refine((value) => /^[^@\s]+@[^@\s]+$/.test(value), {
  message: 'must be an email address with exactly one @',
});

const oneOrMore = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);

// A rule that can never match is a typo that silently disables security (a `groups` rule
// written for `https://app.example.com` or `admin/**`): refuse the shapes targets never have.
const hostGlob = z
  .string()
  .regex(
    /^([A-Za-z0-9*_-]+(\.[A-Za-z0-9*_-]+)*\.?|\[[0-9A-Fa-f:.]+\])$/,
    'must be a host name or glob such as *.example.com (no scheme, port or path)',
  );
const COOKIE_DOMAIN = /^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i;
const pathGlob = z
  .string()
  .regex(/^\/[^?#\s]*$/, 'must be a path glob starting with /, e.g. /admin/**');

const rule = z.strictObject({
  host: oneOrMore(hostGlob).optional(),
  path: oneOrMore(pathGlob).optional(),
  methods: z
    .array(z.string().regex(/^[A-Za-z]{1,16}$/, 'must be an HTTP method'))
    .min(1)
    .optional(),
  policy: z.enum(['bypass', 'authenticated', 'deny']).optional(),
  groups: z.array(z.string().min(1)).min(1).optional(),
  emails: z.array(z.string().min(1)).min(1).optional(),
  domains: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be a domain such as example.com'),
    )
    .min(1)
    .optional(),
});

const headerList = z.array(
  z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name (letters, digits, -)'),
);

const oidcProvider = {
  client_id: z.string().min(1).optional(),
  client_secret: z.string().min(1).optional(),
  scopes: z.array(z.string().min(1)).default(['openid', 'email', 'profile']),
  pkce: z.boolean().default(true),
  display_name: z.string().min(1).optional(),
};

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:4180'),
      // null: `http://<listen host>:<listen port>`, filled in by parse.ts once env overrides
      // are applied, so PORTCULLIS_LISTEN moves it too (RawConfig below never holds the null).
      public_url: httpUrl.nullable().default(null),
      path_prefix: z
        .string()
        .regex(
          /^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/,
          'must look like /auth (no trailing slash)',
        )
        .default('/auth'),
      trusted_proxies: z.array(cidr).default(['127.0.0.1/32', '::1/128']),
      compat_endpoints: z.boolean().default(true),
      // Traefik and Caddy pass the protected app's own cookies to the check: 16 KB (Node's
      // default) locks out users of cookie-heavy apps.
      max_header_size: byteSize.default(64 * 1024),
      /** On SIGTERM: the longest wait for in-flight requests and WebSockets before exiting. */
      drain_timeout: duration.default(15_000),
      // Slow clients hold a socket and a file descriptor each: every phase of a request has a
      // bound, so a flood of trickling clients cannot pin an instance (issue 11, finding 6).
      /** From a connection's opening (or a later request's first byte) to its whole header block. */
      header_timeout: clientTimeout.default(10_000),
      /** Longest silence inside a request body that portcullis reads or refuses itself. */
      body_timeout: clientTimeout.default(30_000),
      /** An idle keep-alive connection is closed after this long (plus Node's 1 s of grace). */
      keepalive_timeout: clientTimeout.default(75_000),
      /** Open client connections per instance; past it new ones are closed at once. */
      max_connections: z.number().int().min(1).max(1_000_000).default(10_000),
    })
    .prefault({}),
  anonymous_mode: z.boolean().default(false),
  anonymous_user: z
    .strictObject({
      id: z.string().min(1).default('anonymous'),
      email: z.string().min(1).default('anonymous@localhost'),
      name: z.string().min(1).default('Anonymous'),
    })
    .prefault({}),
  secrets_file: z.string().min(1).optional(),
  auth: z
    .strictObject({
      secret_key: z.union([secretKey, z.array(secretKey).min(1)]).optional(),
      enabled_auth: z
        .array(z.enum(['magic_link', 'google_oauth', 'oidc', 'basic']))
        .default(['magic_link']),
      signup: z.enum(['open', 'invite_only', 'allowed_domains']).default('open'),
      allowed_domains: z.array(z.string().min(1)).default([]),
      magic_link: z
        .strictObject({
          mailer: z.enum(['resend', 'smtp', 'log', 'manual']).default('log'),
          from: z.string().min(3).default('Portcullis <login@localhost>'),
          ttl: duration.default(15 * 60_000),
          smtp: z
            .strictObject({
              url: smtpUrl,
              // For both smtps:// and the STARTTLS upgrade of smtp://: a relay with a private
              // CA, or reached by an address its certificate does not name.
              tls: z
                .strictObject({
                  ca_file: z.string().min(1).nullable().default(null),
                  reject_unauthorized: z.boolean().default(true),
                  servername: z
                    .string()
                    .regex(
                      /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
                      'must be the host name the certificate names, e.g. mail.internal',
                    )
                    .nullable()
                    .default(null),
                })
                .prefault({}),
            })
            .optional(),
        })
        .prefault({}),
      google_oauth: z
        .strictObject({
          ...oidcProvider,
          hosted_domains: z.array(z.string().min(1)).default([]),
          issuer: httpUrl.default('https://accounts.google.com'),
          /** Google owns the addresses it marks verified: its identities may join existing accounts. */
          link_by_email: z.boolean().default(true),
        })
        .prefault({}),
      oidc: z
        .strictObject({
          ...oidcProvider,
          issuer: httpUrl.optional(),
          groups_claim: z.string().min(1).default('groups'),
          /**
           * Off by default: some providers let people set their own email claim (nOAuth), so an
           * identity joins an existing account by email only where the operator trusts the IdP.
           */
          link_by_email: z.boolean().default(false),
        })
        .prefault({}),
      basic: z
        .strictObject({
          users: z
            .array(z.strictObject({ email: emailAddress, password_hash: z.string().min(1) }))
            .default([]),
        })
        .prefault({}),
    })
    .prefault({}),
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
  store: z
    .strictObject({
      url: z
        .string()
        .refine(isStoreUrl, {
          message: 'must be memory:// or redis://host:port/db / rediss://…',
        })
        .default('memory://'),
      sentinel: z
        .strictObject({ name: z.string().min(1), nodes: z.array(hostPort).min(1) })
        .nullable()
        .default(null),
      cluster: z.array(hostPort).min(1).nullable().default(null),
      key_prefix: z.string().max(64).default('portcullis:'),
    })
    .superRefine((store, ctx) => {
      // With Sentinel or Cluster the nodes come from that setting; `url` (or REDIS_URL), when it
      // is a Redis URL, only lends its credentials, database and TLS (rediss://).
      if (store.sentinel && store.cluster) {
        ctx.addIssue({
          code: 'custom',
          path: ['sentinel'],
          message: 'cannot be combined with store.cluster: set one of them',
        });
      }
      if (
        store.cluster &&
        store.url !== 'memory://' &&
        URL.canParse(store.url) &&
        !/^(\/0*)?$/.test(new URL(store.url).pathname)
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['cluster'],
          message:
            'Redis Cluster has only database 0: store.url (or REDIS_URL) must not select another',
        });
      }
    })
    .prefault({}),
  access: z
    .strictObject({
      default_policy: z.enum(['bypass', 'authenticated', 'deny']).default('authenticated'),
      rules: z.array(rule).default([]),
    })
    .prefault({}),
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
      header: z
        .string()
        .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name (letters, digits, -)')
        .nullable()
        .default('X-Portcullis-Token'),
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
