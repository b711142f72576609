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
    expect(text).toContain('portcullis_process_cpu_user_seconds_total');
  });

  it('serves nothing else on the metrics port, and no metrics on the main port', async () => {
    expect((await fetch(metricsUrl.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(`${app.url}/metrics`)).status).toBe(404);
  });
});
