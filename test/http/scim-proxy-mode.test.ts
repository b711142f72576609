import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

const BEARER = 'Bearer entra-token-0123456789';

/** SPEC §3: in reverse-proxy mode `/scim/v2` is answered locally, never passed upstream. */
describe('SCIM in reverse-proxy mode', () => {
  let upstream: EchoUpstream;
  let app: TestApp;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp(
      { proxy: { upstream: upstream.url }, scim: { enabled: true } },
      { env: { SCIM_BEARER_TOKEN: 'entra-token-0123456789' } },
    );
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  it('serves /scim/v2 itself, with or without credentials, and forwards nothing', async () => {
    const ok = await fetch(`${app.url}/scim/v2/Users?count=1`, {
      headers: { authorization: BEARER },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-echo-upstream')).toBeNull();
    const refused = await fetch(`${app.url}/scim/v2/Users/abc`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="SCIM"');
    const unknown = await fetch(`${app.url}/scim/v2/Nope`, { headers: { authorization: BEARER } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/scim+json');
    expect(upstream.requests.filter((r) => r.url.startsWith('/scim'))).toEqual([]);
  });
});
