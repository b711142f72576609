import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type CheckResult = 'allow' | 'login' | 'deny' | 'bad_request' | 'unavailable' | 'error';
const RESULTS: readonly CheckResult[] = [
  'allow',
  'login',
  'deny',
  'bad_request',
  'unavailable',
  'error',
];
const DIALECTS = ['nginx', 'traefik', 'oauth2', 'verify', 'proxy'] as const;
export type MetricDialect = (typeof DIALECTS)[number];

/**
 * Check latencies are mostly well under a millisecond (a cached session is answered without any
 * I/O); the upper buckets catch store round trips and a slow or failing store.
 */
const DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

interface BoundCheck {
  count: { inc(): void };
  duration: { observe(seconds: number): void };
}

/**
 * Prometheus metrics. The auth check counts and times through pre-bound children (two property
 * reads, one add, one bucket search) so it costs nothing measurable on the hot path.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly checks: Counter<'dialect' | 'result'>;
  private readonly durations: Histogram<'dialect' | 'result'>;
  private readonly bound: Record<string, Record<string, BoundCheck>> = {};
  private readonly logins: Counter<'method'>;

  constructor() {
    // Unprefixed: dashboards and alerts for Node services expect process_* and nodejs_*.
    collectDefaultMetrics({ register: this.registry });
    this.checks = new Counter({
      name: 'portcullis_auth_checks_total',
      help: 'Auth checks answered, by proxy dialect and result',
      labelNames: ['dialect', 'result'],
      registers: [this.registry],
    });
    this.durations = new Histogram({
      name: 'portcullis_check_duration_seconds',
      help: 'Time from receiving an auth check to its answer, by proxy dialect and result',
      labelNames: ['dialect', 'result'],
      buckets: DURATION_BUCKETS,
      registers: [this.registry],
    });
    for (const dialect of DIALECTS) {
      const row: Record<string, BoundCheck> = {};
      for (const result of RESULTS) {
        row[result] = {
          count: this.checks.labels(dialect, result),
          duration: this.durations.labels(dialect, result),
        };
      }
      this.bound[dialect] = row;
    }
    this.logins = new Counter({
      name: 'portcullis_logins_total',
      help: 'Successful sign-ins, by login method',
      labelNames: ['method'],
      registers: [this.registry],
    });
  }

  /** Counts one answered check; `startedAt` (`performance.now()` on arrival) also times it. */
  check(dialect: MetricDialect, result: CheckResult, startedAt?: number): void {
    const bound = this.bound[dialect]?.[result];
    if (!bound) return;
    bound.count.inc();
    if (startedAt !== undefined) bound.duration.observe((performance.now() - startedAt) / 1000);
  }

  login(method: string): void {
    this.logins.labels(method).inc();
  }

  /** A gauge read at scrape time. */
  gauge(name: string, help: string, read: () => number | Promise<number>): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await read());
      },
    });
  }
}

/** Serves `GET /metrics` in the Prometheus text format on its own address. */
export async function startMetricsServer(
  metrics: Metrics,
  host: string,
  port: number,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Length': '0' }).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        const body = Buffer.from(text);
        res.writeHead(200, {
          'Content-Type': metrics.registry.contentType,
          'Content-Length': body.length,
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => res.writeHead(500, { 'Content-Length': '0' }).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
