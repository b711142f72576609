import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

describe('GET /auth/logout: the confirm page', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('names the signed-in account and offers a way back', async () => {
    const cookie = await app.login('shared.desk@example.com');
    const page = await fetch(`${app.url}/auth/logout`, {
      headers: { cookie: `portcullis_session=${cookie}` },
    });
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toContain(
      'You are signed in as <strong class="address">shared.desk@example.com</strong>',
    );
    expect(body).toContain('<a href="/auth/account">Cancel</a>');
    expect(body).toContain('<form method="post" action="/auth/logout">');
  });

  it('without a session it names nobody and cancels to the login page', async () => {
    const body = await (await fetch(`${app.url}/auth/logout?everywhere=1`)).text();
    expect(body).not.toContain('You are signed in as');
    expect(body).toContain('<a href="/auth/login">Cancel</a>');
    expect(body).toContain('action="/auth/logout?everywhere=1"');
  });
});
