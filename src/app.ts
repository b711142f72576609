import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { composeEdge } from './compose/edge.js';
import { composeServices } from './compose/services.js';
import type { Config } from './config/load.js';
import { type Clock, systemClock, systemTimers, type Timers } from './core/clock.js';
import type { AccessPolicy } from './core/decide.js';
import type { Identity } from './core/identity.js';
import { createLogger } from './logger.js';
import { createMailer } from './mail/create-mailer.js';
import type { Metrics } from './metrics.js';
import { openStore } from './open-store.js';
import type { Store } from './ports/store.js';
import type { ReverseProxy } from './proxy/reverse-proxy.js';
import { createRuntimeKey, removeRuntimeKey } from './runtime-key.js';
import type { AdminService } from './services/admin.js';
import type { AuditLog } from './services/audit.js';
import type { LoginLinks } from './services/login-links.js';
import type { PasskeyService } from './services/passkeys.js';
import type { SecondFactorService } from './services/second-factor.js';
import type { SessionService } from './services/sessions.js';
import type { UserService } from './services/users.js';
import { keepNextTickShape } from './tick-shape.js';

export interface AppOptions {
  clock?: Clock;
  /** The proxy's deadlines (proxy.timeout, body_timeout); Node's timers by default. */
  timers?: Timers;
  logger?: Logger;
  /**
   * Override the listen address (tests use port 0). `false`: bind nothing; tests hand requests
   * to `server`'s 'request' listener in-process, and `url` is `http://in-process`.
   */
  listen?: { host: string; port: number } | false;
}

/**
 * What the composition root built, for the process around it (main.ts logs through `logger`)
 * and for tests (they seed the store, issue links, read the policy). No handler receives this:
 * each gets only what it uses.
 */
export interface AppServices {
  config: Config;
  store: Store;
  sessions: SessionService;
  users: UserService;
  loginLinks: LoginLinks;
  admin: AdminService;
  audit: AuditLog;
  /** WebAuthn ceremonies and the users' passkeys (one instance per process). */
  passkeys: PasskeyService;
  /** TOTP and recovery codes (one instance per process). */
  secondFactors: SecondFactorService;
  clock: Clock;
  logger: Logger;
  policy: AccessPolicy;
  anonymousUser: Identity;
}

export interface App {
  ctx: AppServices;
  server: Server;
  /** The reverse proxy, when `proxy.upstream` is set. */
  proxy: ReverseProxy | null;
  /** `http://host:port` actually bound. */
  url: string;
  /**
   * Graceful stop (SIGTERM): readyz answers 503 at once and the listener keeps serving, with
   * `Connection: close`, until no request is in flight and every WebSocket has been told
   * goodbye and closed, or `drainMs` (default `server.drain_timeout`) has passed; then `close`.
   */
  shutdown(drainMs?: number): Promise<void>;
  /** Stops at once: open connections and WebSockets are cut. */
  close(): Promise<void>;
}

export { openStore };

/** The composition root: the only place that knows the concrete classes. */
export async function startApp(config: Config, options: AppOptions = {}): Promise<App> {
  // Before any traffic: the per-request nextTicks inside node:http must stay fast (see file).
  keepNextTickShape();
  const { raw, prefix } = config;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(raw.log.level, raw.log.format);
  for (const warning of config.warnings) logger.warn(warning);
  let secrets = config.secretKeys;
  let runtimeKey = false;
  if (!secrets) {
    secrets = [
      createRuntimeKey(config.path, (reason) =>
        logger.warn(`${reason}: portcullis login-url cannot sign links for this server`),
      ),
    ];
    runtimeKey = true;
    logger.warn(
      'auth.secret_key is not set: using a random key for this process (sessions end when it stops)',
    );
  }
  const store = await openStore(config, clock, logger);
  const publicPath = config.publicUrl.pathname.replace(/\/+$/, '');
  const baseUrl = `${config.publicOrigin}${publicPath}${prefix}`;
  // Optional features are loaded only when configured (see createMailer for why).
  const metricsModule = raw.metrics.listen ? await import('./metrics.js') : null;
  const metrics: Metrics | null = metricsModule ? new metricsModule.Metrics() : null;
  const mailer = await createMailer(config, logger, () => clock.now());
  // The parts are built in compose/ (services, then the edge over them): still this root.
  const parts = await composeServices({
    config,
    clock,
    timers: options.timers ?? systemTimers,
    logger,
    store,
    secrets,
    mailer,
    metrics,
    publicPath,
    baseUrl,
  });
  const { sessions, users, loginLinks, admin, audit, passkeys, secondFactors } = parts;
  const { policy, anonymousUser } = parts;
  const { server, proxy, lifecycle } = await composeEdge(parts);
  const listen = options.listen ?? config.listen;
  if (listen) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }
  let metricsServer: Server | null = null;
  if (metrics && metricsModule && config.raw.metrics.listen) {
    const at = /^\[?(.*?)\]?:(\d+)$/.exec(config.raw.metrics.listen) as RegExpExecArray;
    metrics.gauge('portcullis_store_up', 'Whether the session store answers (1) or not (0)', () =>
      store.ping().then(
        () => 1,
        () => 0,
      ),
    );
    metricsServer = await metricsModule.startMetricsServer(metrics, at[1] as string, Number(at[2]));
    logger.info({ listen: config.raw.metrics.listen }, 'metrics listening');
  }
  const address = server.address() as AddressInfo | null;
  const host = address?.family === 'IPv6' ? `[${address.address}]` : address?.address;
  const url = address ? `http://${host}:${address.port}` : 'http://in-process';
  logger.info({ url, store: store.kind, public_url: config.publicOrigin }, 'portcullis listening');
  let stopped: Promise<void> | null = null;
  // `server.close` called twice would wait forever for a 'close' that already happened.
  const stopListening = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return stopped;
  };
  const ctx: AppServices = {
    config,
    store,
    sessions,
    users,
    loginLinks,
    admin,
    audit,
    passkeys,
    secondFactors,
    clock,
    logger,
    policy,
    anonymousUser,
  };
  const app: App = {
    ctx,
    server,
    proxy,
    url,
    async shutdown(drainMs = config.raw.server.drain_timeout) {
      const started = Date.now();
      lifecycle.startDraining(server);
      logger.info(
        { in_flight: lifecycle.inFlight, websockets: proxy?.openTunnels ?? 0, drain_ms: drainMs },
        'draining: readyz answers 503; in-flight work may finish',
      );
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainMs);
      });
      const drained = (async () => {
        await Promise.all([lifecycle.whenIdle(), proxy?.drainTunnels()]);
        // Idle for now: stop taking connections, let the ones just accepted deliver their
        // request, and close only connections left idle (see Lifecycle.stopAccepting); then
        // finish what arrived meanwhile.
        lifecycle.stopAccepting();
        await lifecycle.whenQuiet();
        void stopListening();
        server.closeIdleConnections();
        await lifecycle.whenIdle();
      })();
      await Promise.race([drained, deadline]);
      clearTimeout(timer);
      const left = lifecycle.inFlight + (proxy?.openTunnels ?? 0);
      const log = left > 0 ? logger.warn.bind(logger) : logger.info.bind(logger);
      log(
        { ms: Date.now() - started, cut: left },
        left > 0 ? 'drain timeout: closing what is left' : 'drained',
      );
      await app.close();
    },
    async close() {
      // Upgraded sockets are not among the server's HTTP connections but still hold it open:
      // the proxy closes its tunnels (and its upstream pool) first.
      await proxy?.close();
      const closing = stopListening();
      server.closeAllConnections();
      await closing;
      await new Promise<void>((resolve) =>
        metricsServer ? metricsServer.close(() => resolve()) : resolve(),
      );
      await store.close();
      await mailer.close();
      if (runtimeKey) removeRuntimeKey(config.path);
    },
  };
  return app;
}
