import { z } from 'zod';
import { byteSize, cidr, clientTimeout, duration, hostPort, httpUrl } from './schema-types.js';

/** The `server` section: where portcullis listens, under which prefix, and its client bounds. */
export const serverSchema = z
  .strictObject({
    listen: hostPort.default('127.0.0.1:4180'),
    // null: `http://<listen host>:<listen port>`, filled in by parse.ts once env overrides
    // are applied, so PORTCULLIS_LISTEN moves it too (RawConfig in schema.ts never holds the null).
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
  .prefault({});
