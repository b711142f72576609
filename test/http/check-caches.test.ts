import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * The auth check keeps parsed targets and each session's prepared header list between
 * requests (bench/run.mjs). Reuse must never change an answer: a cached URL asked with another
 * method is decided for that method, and a shared header list is never appended to.
 */

const APP = 'https://app.example.com';

interface Reply {
  status: number;
  headers: Headers;
}

describe('auth check caches', () => {
  let app: TestApp;
  let cookie: string;

  beforeAll(async () => {
    app = await startTestApp({
      access: {
        default_policy: 'authenticated',
        rules: [{ path: '/api/**', methods: ['DELETE'], policy: 'deny' }],
      },
    });
    cookie = `portcullis_session=${await app.login('alice@example.com')}`;
  });

  afterAll(async () => {
    await app.close();
  });

  async function check(path: string, headers: Record<string, string>): Promise<Reply> {
    const response = await fetch(`${app.url}${path}`, { headers: { cookie, ...headers } });
    await response.arrayBuffer();
    return { status: response.status, headers: response.headers };
  }

  const nginx = (method: string, uri: string) =>
    check('/auth/nginx', { 'X-Original-URL': `${APP}${uri}`, 'X-Original-Method': method });
  const traefik = (method: string, uri: string) =>
    check('/auth/traefik', {
      'X-Forwarded-Method': method,
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Host': 'app.example.com',
      'X-Forwarded-Uri': uri,
    });

  for (const [name, ask] of [
    ['absolute URL (nginx)', nginx],
    ['forwarded parts (traefik)', traefik],
  ] as const) {
    it(`decides a cached ${name} target again for another method`, async () => {
      expect((await ask('GET', '/api/items/1')).status).toBe(200);
      expect((await ask('GET', '/api/items/1')).status).toBe(200);
      expect((await ask('DELETE', '/api/items/1')).status).toBe(403);
      expect((await ask('GET', '/api/items/1')).status).toBe(200);
      expect((await ask('DELETE', '/api/items/1')).status).toBe(403);
    });
  }

  it('answers the same headers every time, and oauth2 extras never leak into nginx answers', async () => {
    const first = await nginx('GET', '/notes');
    for (let i = 0; i < 3; i++) {
      const again = await nginx('GET', '/notes');
      expect([...again.headers.entries()].filter(([k]) => k !== 'date')).toEqual(
        [...first.headers.entries()].filter(([k]) => k !== 'date'),
      );
    }
    expect(first.headers.get('content-length')).toBe('0');
    expect(first.headers.get('remote-email')).toBe('alice@example.com');

    const oauth2 = await check('/oauth2/auth', {
      Host: new URL(APP).host,
      'X-Forwarded-Uri': '/notes',
      'X-Forwarded-Method': 'GET',
    });
    expect(oauth2.status).toBe(202);
    expect(oauth2.headers.get('x-auth-request-preferred-username')).toBe('alice');
    const after = await nginx('GET', '/notes');
    expect(after.status).toBe(200);
    expect(after.headers.get('x-auth-request-preferred-username')).toBeNull();
    expect(after.headers.get('content-length')).toBe('0');
  });
});
