import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

/** oauth2-proxy's /oauth2/sign_in, /oauth2/start and /oauth2/sign_out (compatibility paths). */

const PUBLIC_URL = 'https://auth.example.com';
const login = (rd?: string) =>
  rd === undefined
    ? `${PUBLIC_URL}/auth/login`
    : `${PUBLIC_URL}/auth/login?rd=${encodeURIComponent(rd)}`;

/** node:http, not fetch: fetch drops a Host header it is given. */
function location(
  app: TestApp,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; location: string | null }> {
  return new Promise((resolve, reject) => {
    const req = request(`${app.url}${path}`, { headers, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location ?? null });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('oauth2-proxy sign-in paths', () => {
  let app: TestApp;
  let untrusted: TestApp;
  let off: TestApp;

  beforeAll(async () => {
    const server = { public_url: PUBLIC_URL };
    const session = { cookie_domain: '.example.com' };
    app = await startTestApp({ server, session });
    untrusted = await startTestApp({
      server: { ...server, trusted_proxies: ['10.0.0.0/8'] },
      session,
    });
    off = await startTestApp({ server: { ...server, compat_endpoints: false }, session });
  });

  afterAll(async () => {
    await Promise.all([app.close(), untrusted.close(), off.close()]);
  });

  it('takes ?rd= (same rules as everywhere)', async () => {
    expect(
      await location(
        app,
        `/oauth2/sign_in?rd=${encodeURIComponent('https://app.example.com/x?y=1')}`,
      ),
    ).toEqual({
      status: 302,
      location: login('https://app.example.com/x?y=1'),
    });
    expect(
      await location(app, `/oauth2/start?rd=${encodeURIComponent('https://evil.example.net/')}`),
    ).toEqual({
      status: 302,
      location: login(),
    });
  });

  it('makes a relative X-Auth-Request-Redirect absolute on the host the proxy names', async () => {
    const headers = { 'x-auth-request-redirect': '/notes?id=1', host: 'app.example.com' };
    expect(await location(app, '/oauth2/sign_in', { ...headers, 'x-scheme': 'https' })).toEqual({
      status: 302,
      location: login('https://app.example.com/notes?id=1'),
    });
    expect(
      await location(app, '/oauth2/sign_in', { ...headers, 'x-forwarded-proto': 'http' }),
    ).toEqual({ status: 302, location: login('http://app.example.com/notes?id=1') });
    // No scheme named: the one public_url uses.
    expect(await location(app, '/oauth2/sign_in', headers)).toEqual({
      status: 302,
      location: login('https://app.example.com/notes?id=1'),
    });
    // A host that is not ours is no destination.
    expect(
      await location(app, '/oauth2/sign_in', { ...headers, host: 'evil.example.net' }),
    ).toEqual({ status: 302, location: login() });
    expect(
      await location(app, '/oauth2/sign_in', { ...headers, 'x-scheme': 'javascript' }),
    ).toEqual({ status: 302, location: login('/notes?id=1') }); // stays on portcullis' host
  });

  it('ignores X-Auth-Request-Redirect from an address that is not a trusted proxy', async () => {
    expect(
      await location(untrusted, '/oauth2/sign_in', {
        'x-auth-request-redirect': '/notes',
        host: 'app.example.com',
      }),
    ).toEqual({ status: 302, location: login() });
  });

  it('/oauth2/sign_out goes to the sign-out page', async () => {
    expect(await location(app, '/oauth2/sign_out')).toEqual({
      status: 302,
      location: `${PUBLIC_URL}/auth/logout`,
    });
  });

  it('are not served with server.compat_endpoints: false', async () => {
    for (const path of ['/oauth2/sign_in', '/oauth2/start', '/oauth2/sign_out']) {
      expect((await location(off, path)).status, path).toBe(404);
    }
  });
});
