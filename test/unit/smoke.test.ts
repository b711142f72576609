import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

describe('in-process app', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app.close();
  });

  it('lets a signed-in user through /auth/nginx and names them', async () => {
    const cookie = await app.login('alice@example.com');
    const response = await fetch(`${app.url}/auth/nginx`, {
      headers: { cookie: `portcullis_session=${cookie}`, 'x-original-url': 'http://app.test/x' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('remote-email')).toBe('alice@example.com');
    expect(response.headers.get('content-length')).toBe('0');
  });
});
