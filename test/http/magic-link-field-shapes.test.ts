import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/core/password.js';
import { readCorpus } from '../fixtures/read-corpus.js';
import { formToken } from '../helpers/form-token.js';
import { type ResendServer, startResendServer } from '../helpers/mail.js';
import { type LoggedApp, sessionCookieOf, startLoggedApp } from '../helpers/mail-app.js';

const PASSWORD = 'correct-horse-battery';

/** `path | content-type | body` lines of test/fixtures/repeated-form-fields.txt. */
const cases = readCorpus(new URL('../fixtures/repeated-form-fields.txt', import.meta.url)).map(
  ({ line, source, value }) => {
    const [path, type, ...body] = value.split(' | ');
    if (!path || !type || body.length === 0)
      throw new Error(`line ${line}: not path | type | body`);
    return { line, source, path, type, body: body.join(' | ') };
  },
);

describe('login forms with repeated or list-shaped fields', () => {
  let resend: ResendServer;
  let app: LoggedApp;
  let ip = 0;
  /** A CSRF pair as the login page hands it out, so nothing but the field shapes is wrong. */
  let csrf = { token: '', cookie: '' };

  beforeAll(async () => {
    resend = await startResendServer();
    app = await startLoggedApp(
      {
        auth: {
          enabled_auth: ['magic_link', 'basic'],
          magic_link: { mailer: 'resend' },
          signup: 'open',
          basic: {
            users: [{ email: 'ann@example.com', password_hash: await hashPassword(PASSWORD) }],
          },
        },
      },
      { env: { RESEND_API_KEY: 're_key', RESEND_BASE_URL: resend.url } },
    );
    csrf = await formToken(app.url, '', '/auth/login');
  });
  afterAll(async () => {
    await app?.close();
    await resend?.close();
  });

  function post(path: string, type: string, body: string, accept = 'text/html') {
    ip += 1;
    return fetch(`${app.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': type,
        accept,
        cookie: csrf.cookie,
        // Loopback is a trusted proxy: every request counts against its own address's limit.
        'x-forwarded-for': `198.51.100.${ip % 250}`,
      },
      body: body.replaceAll('{csrf}', csrf.token),
    });
  }

  it('is big enough to mean something', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  // Without these, a 400 below could come from a harness that never sends a valid form.
  it('accepts the same forms with each field once', async () => {
    const sent = resend.requests.length;
    const magic = await post(
      '/auth/magic_link',
      'application/x-www-form-urlencoded',
      `email=ann@example.com&rd=/&csrf={csrf}`,
    );
    expect(magic.status).toBe(200);
    await resend.waitForMailTo('ann@example.com');
    expect(resend.requests.length).toBe(sent + 1);
    const basic = await post(
      '/auth/basic',
      'application/x-www-form-urlencoded',
      `email=ann@example.com&password=${PASSWORD}&rd=/&csrf={csrf}`,
    );
    expect(basic.status).toBe(303);
    expect(sessionCookieOf(basic)).not.toBeNull();
  });

  it('answers a repeated address with the short page, or JSON when JSON is asked for', async () => {
    const body = `email=ann@example.com&email=bob@example.com&rd=/&csrf={csrf}`;
    const type = 'application/x-www-form-urlencoded';
    const json = await post('/auth/magic_link', type, body, 'application/json');
    expect(json.status).toBe(400);
    expect(json.headers.get('content-type')).toContain('application/json');
    expect(await json.json()).toMatchObject({ error: 'bad_request' });
    const page = await post('/auth/magic_link', type, body);
    expect(page.status).toBe(400);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('more than once');
  });

  it.each(cases)('line $line is 400, sends nothing: $source', async ({ path, type, body }) => {
    const sent = resend.requests.length;
    for (const accept of ['text/html', 'application/json']) {
      const answer = await post(path, type, body, accept);
      const text = await answer.text();
      expect(answer.status).toBe(400);
      expect(sessionCookieOf(answer)).toBeNull();
      expect(text).not.toContain('Check your email');
    }
    // A mail accepted while the request was answered would show up here a moment later.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(resend.requests.length).toBe(sent);
    expect(await app.ctx.store.getUserByEmail('bob@example.com')).toBeNull();
  });
});
