import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

describe('anonymous mode', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      anonymous_mode: true,
      anonymous_user: { id: 'guest', email: 'guest@localhost', name: 'Guest' },
      access: { rules: [{ host: 'app.test', path: '/admin/**', policy: 'deny' }] },
    });
  });
  afterAll(async () => {
    await app.close();
  });

  const check = (cookie?: string) =>
    fetch(`${app.url}/auth/nginx`, {
      headers: {
        'x-original-url': 'http://app.test/admin/x',
        ...(cookie ? { cookie: `portcullis_session=${cookie}` } : {}),
      },
    });

  it('lets everyone through as anonymous_user', async () => {
    const response = await check();
    expect(response.status).toBe(200);
    expect(response.headers.get('remote-user')).toBe('guest');
    expect(response.headers.get('remote-email')).toBe('guest@localhost');
    expect(response.headers.get('remote-name')).toBe('Guest');
  });

  it('still names a signed-in user', async () => {
    const cookie = await app.login('bob@example.com');
    const response = await check(cookie);
    expect(response.status).toBe(200);
    expect(response.headers.get('remote-email')).toBe('bob@example.com');
  });

  it('treats a forged cookie as anonymous, never as a user', async () => {
    const response = await check('eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0.');
    expect(response.status).toBe(200);
    expect(response.headers.get('remote-user')).toBe('guest');
  });
});

describe('serve --anonymous-mode equivalent', () => {
  it('is off by default: the same request needs a login', async () => {
    const app = await startTestApp();
    try {
      const response = await fetch(`${app.url}/auth/nginx`, {
        headers: { 'x-original-url': 'http://app.test/' },
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('location')).toBe(
        `http://127.0.0.1:4180/auth/login?rd=${encodeURIComponent('http://app.test/')}`,
      );
    } finally {
      await app.close();
    }
  });
});

describe('standing alone (no proxy.upstream)', () => {
  it('sends / to the sign-in page, which names whoever is signed in', async () => {
    const app = await startTestApp();
    try {
      const root = await fetch(`${app.url}/`, { redirect: 'manual' });
      expect(root.status).toBe(302);
      expect(root.headers.get('location')).toBe('/auth/login');
      const cookie = await app.login('quinn@example.com');
      const page = await fetch(`${app.url}/auth/login`, {
        headers: { cookie: `portcullis_session=${cookie}` },
      });
      expect(await page.text()).toContain('quinn@example.com');
    } finally {
      await app.close();
    }
  });
});
