import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/ports.js';

describe('metrics.listen', () => {
  let app: TestApp;
  let metricsUrl: string;
  beforeAll(async () => {
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    app = await startTestApp({ metrics: { listen: `127.0.0.1:${port}` } });
  });
  afterAll(async () => {
    await app.close();
  });

  it('counts auth checks by dialect and result, and sign-ins by method, in Prometheus text', async () => {
    const cookie = await app.login('mia@example.com');
    const check = (headers: Record<string, string>) => fetch(`${app.url}/auth/nginx`, { headers });
    await check({ 'x-original-url': 'http://app.test/', cookie: `portcullis_session=${cookie}` });
    await check({ 'x-original-url': 'http://app.test/', cookie: `portcullis_session=${cookie}` });
    await check({ 'x-original-url': 'http://app.test/' });
    await check({});
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('portcullis_auth_checks_total{dialect="nginx",result="allow"} 2');
    expect(text).toContain('portcullis_auth_checks_total{dialect="nginx",result="login"} 1');
    expect(text).toContain('portcullis_auth_checks_total{dialect="nginx",result="bad_request"} 1');
    expect(text).toContain('portcullis_logins_total{method="magic_link"} 1');
    expect(text).toContain('portcullis_store_up 1');
    // Node's standard names, unprefixed, as dashboards for Node services expect them.
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(text).not.toContain('portcullis_process_');
    expect(text).not.toContain('portcullis_nodejs_');
  });

  it('times checks in a histogram by dialect and result', async () => {
    const before = await (await fetch(metricsUrl)).text();
    const count = (text: string, result: string) =>
      Number(
        new RegExp(
          `^portcullis_check_duration_seconds_count\\{dialect="traefik",result="${result}"\\} (\\d+)$`,
          'm',
        ).exec(text)?.[1] ?? '0',
      );
    const cookie = await app.login('lee@example.com');
    const forwarded = { 'x-forwarded-host': 'app.test', 'x-forwarded-uri': '/' };
    await fetch(`${app.url}/auth/traefik`, {
      headers: { ...forwarded, cookie: `portcullis_session=${cookie}` },
    });
    await fetch(`${app.url}/auth/traefik`, { headers: forwarded, redirect: 'manual' });
    await fetch(`${app.url}/auth/traefik`, { headers: forwarded, redirect: 'manual' });
    const text = await (await fetch(metricsUrl)).text();
    expect(count(text, 'allow') - count(before, 'allow')).toBe(1);
    expect(count(text, 'login') - count(before, 'login')).toBe(2);
    const inf =
      /^portcullis_check_duration_seconds_bucket\{le="\+Inf",dialect="traefik",result="login"\} (\d+)$/m.exec(
        text,
      );
    expect(Number(inf?.[1])).toBe(count(text, 'login'));
    const sum =
      /^portcullis_check_duration_seconds_sum\{dialect="traefik",result="login"\} (\S+)$/m.exec(
        text,
      );
    // Real time was measured: more than nothing, less than a second for two local answers.
    expect(Number(sum?.[1])).toBeGreaterThan(0);
    expect(Number(sum?.[1])).toBeLessThan(1);
    expect(text).toContain('# TYPE portcullis_check_duration_seconds histogram');
  });

  it('serves nothing else on the metrics port, and no metrics on the main port', async () => {
    expect((await fetch(metricsUrl.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(`${app.url}/metrics`)).status).toBe(404);
  });
});
