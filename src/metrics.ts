import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

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
 * Prometheus metrics. The auth check counts through pre-bound children (two property reads, one
 * add) so counting costs nothing measurable on the hot path.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly checks: Counter<'dialect' | 'result'>;
  private readonly bound: Record<string, Record<string, { inc(): void }>> = {};
  private readonly logins: Counter<'method'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });
    this.checks = new Counter({
      name: 'portcullis_auth_checks_total',
      help: 'Auth checks answered, by proxy dialect and result',
      labelNames: ['dialect', 'result'],
      registers: [this.registry],
    });
    for (const dialect of DIALECTS) {
      const row: Record<string, { inc(): void }> = {};
      for (const result of RESULTS) row[result] = this.checks.labels(dialect, result);
      this.bound[dialect] = row;
    }
    this.logins = new Counter({
      name: 'portcullis_logins_total',
      help: 'Successful sign-ins, by login method',
      labelNames: ['method'],
      registers: [this.registry],
    });
  }

  check(dialect: MetricDialect, result: CheckResult): void {
    this.bound[dialect]?.[result]?.inc();
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
