import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ResendServer,
  type SmtpCapture,
  startResendServer,
  startSmtpCapture,
} from '../helpers/mail.js';
import { type LoggedApp, sessionCookieOf, startLoggedApp } from '../helpers/mail-app.js';

const PUBLIC = 'https://auth.example.com';

async function me(app: LoggedApp, cookie: string) {
  return fetch(`${app.url}/auth/me`, { headers: { cookie: `portcullis_session=${cookie}` } });
}

describe('resend mailer (real SDK against a local Resend API)', () => {
  let resend: ResendServer;
  let app: LoggedApp;
  beforeAll(async () => {
    resend = await startResendServer();
    app = await startLoggedApp(
      {
        server: { public_url: PUBLIC },
        session: { cookie_domain: '.example.com' },
        auth: {
          magic_link: { mailer: 'resend', from: 'Portcullis <login@example.com>', ttl: '20m' },
        },
      },
      { env: { RESEND_API_KEY: 're_test_key_123', RESEND_BASE_URL: resend.url } },
    );
  });
  afterAll(async () => {
    await app?.close();
    await resend?.close();
  });

  it('sends the link with the API key, sender and recipient, and the link signs in', async () => {
    const response = await app.askForLink('  Alice@Example.COM ', {
      rd: 'https://app.example.com/notes?x=1',
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Check your email');
    const mail = await resend.waitForMailTo('alice@example.com');
    const request = resend.requests.at(-1);
    expect(request?.headers.authorization).toBe('Bearer re_test_key_123');
    expect(mail.from).toBe('Portcullis <login@example.com>');
    expect(mail.to).toEqual(['alice@example.com']);
    expect(mail.subject).toContain('sign-in link');
    // Plain text and HTML both carry the link, say where it comes from and when it expires.
    expect(mail.link).toMatch(
      /^https:\/\/auth\.example\.com\/auth\/magic\?token=[A-Za-z0-9_-]{43}$/,
    );
    expect(mail.text).toContain('https://auth.example.com');
    expect(mail.text).toContain('expires in 20 minutes');
    expect(mail.html).toContain(`href="${mail.link}"`);
    expect(mail.html).toContain('expires in 20 minutes');
    expect(mail.html).toContain('auth.example.com');

    const redeemed = await app.redeem(mail.link as string);
    expect(redeemed.status).toBe(303);
    expect(redeemed.headers.get('location')).toBe('https://app.example.com/notes?x=1');
    const cookie = sessionCookieOf(redeemed);
    expect(cookie).not.toBeNull();
    const identity = (await (await me(app, cookie as string)).json()) as { email: string };
    expect(identity.email).toBe('alice@example.com');
    const user = await app.ctx.store.getUserByEmail('alice@example.com');
    expect(user?.verified).toBe(true);
    expect(user?.lastLoginAt).toBeTypeOf('number');
  });

  it('shows "could not send" on a Resend error and leaves the link unusable', async () => {
    resend.failNext(1, 422, {
      statusCode: 422,
      name: 'validation_error',
      message: 'The `from` domain is not verified.',
    });
    const before = resend.requests.length;
    const response = await app.askForLink('bob@example.com');
    expect(response.status).toBe(503);
    const body = await response.text();
    expect(body).toContain('We could not send the email just now. Try again in a moment.');
    expect(body).toContain('value="bob@example.com"');
    // The SDK did call the API; the link it carried must not work.
    expect(resend.requests.length).toBe(before + 1);
    const attempted = resend.requests.at(-1)?.body.text ?? '';
    const link = /https:\/\/\S+\/magic\?token=\S+/.exec(attempted)?.[0] as string;
    expect(link).toBeTruthy();
    const redeemed = await app.redeem(link);
    expect(redeemed.status).toBe(303);
    expect(redeemed.headers.get('location')).toBe('/auth/login?error=link_used');
    expect(sessionCookieOf(redeemed)).toBeNull();
    // Nothing half-done: no user was created for the unsent link.
    expect(await app.ctx.store.getUserByEmail('bob@example.com')).toBeNull();
    const failure = app.logs.find((l) => l.event === 'magic_link_send_failed');
    expect(String(failure?.detail)).toContain('validation_error');
  });

  it('treats a server error without JSON the same way', async () => {
    resend.failNext(1, 500, 'not json');
    const response = await app.askForLink('carol@example.com');
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('could not send');
  });

  it('builds the link from public_url even when the Host header names another site', async () => {
    const response = await app.askForLink('dora@example.com', { host: 'evil.example.net' });
    expect(response.status).toBe(200);
    const mail = await resend.waitForMailTo('dora@example.com');
    expect(mail.link?.startsWith('https://auth.example.com/auth/magic?token=')).toBe(true);
    expect(mail.text).not.toContain('evil');
    expect(mail.html).not.toContain('evil');
  });
});

describe('smtp mailer (real nodemailer to a local smtp-server)', () => {
  let smtp: SmtpCapture;
  let app: LoggedApp;
  beforeAll(async () => {
    smtp = await startSmtpCapture({ auth: { user: 'mailer', pass: 's3cret pass' } });
    app = await startLoggedApp({
      auth: {
        magic_link: {
          mailer: 'smtp',
          from: 'Khoj Login <login@example.com>',
          smtp: { url: smtp.url },
        },
      },
    });
  });
  afterAll(async () => {
    await app?.close();
    await smtp?.close();
  });

  it('delivers a text and an HTML part whose link signs in', async () => {
    const response = await app.askForLink('erin@example.com', { rd: '/after' });
    expect(response.status).toBe(200);
    const mail = await smtp.waitForMailTo('erin@example.com');
    expect(smtp.logins).toContain('mailer');
    expect(mail.from).toBe('Khoj Login <login@example.com>');
    expect(mail.subject).toBe('Your sign-in link for Portcullis');
    expect(mail.text).toContain('expires in 15 minutes');
    expect(mail.html).toContain('<a href="http://127.0.0.1:4180/auth/magic?token=');
    expect(mail.link).toMatch(/^http:\/\/127\.0\.0\.1:4180\/auth\/magic\?token=/);
    const redeemed = await app.redeem(mail.link as string);
    expect(redeemed.headers.get('location')).toBe('/after');
    expect(sessionCookieOf(redeemed)).not.toBeNull();
  });

  it('shows "could not send" when the SMTP server is gone, and the user is not created', async () => {
    const broken = await startLoggedApp({
      auth: { magic_link: { mailer: 'smtp', smtp: { url: 'smtp://127.0.0.1:1' } } },
    });
    try {
      const response = await broken.askForLink('frank@example.com');
      expect(response.status).toBe(503);
      expect(await response.text()).toContain('could not send');
      expect(await broken.ctx.store.getUserByEmail('frank@example.com')).toBeNull();
      expect(broken.logs.some((l) => l.event === 'magic_link_send_failed')).toBe(true);
    } finally {
      await broken.close();
    }
  });
});

describe('log and manual mailers', () => {
  it('log: prints the link, which works', async () => {
    const app = await startLoggedApp({ auth: { magic_link: { mailer: 'log' } } });
    try {
      const response = await app.askForLink('gina@example.com');
      expect(response.status).toBe(200);
      const line = app.logs.find((l) => l.event === 'magic_link_logged');
      const link = /http:\/\/\S+\/magic\?token=\S+/.exec(String(line?.msg))?.[0];
      expect(link).toBeTruthy();
      const redeemed = await app.redeem(link as string);
      expect(sessionCookieOf(redeemed)).not.toBeNull();
    } finally {
      await app.close();
    }
  });

  it('manual: sends nothing, creates the unverified user, and tells the person to ask an admin', async () => {
    const app = await startLoggedApp({ auth: { magic_link: { mailer: 'manual' } } });
    try {
      const login = await (await fetch(`${app.url}/auth/login`)).text();
      expect(login).toContain('An administrator will hand you a sign-in link');
      const response = await app.askForLink('hank@example.com');
      expect(response.status).toBe(200);
      const body = await response.text();
      expect(body).toContain('Ask your administrator');
      expect(body).not.toContain('token=');
      const user = await app.ctx.store.getUserByEmail('hank@example.com');
      expect(user).toMatchObject({ verified: false, active: true });
      expect(JSON.stringify(app.logs)).not.toContain('/magic?token=');
    } finally {
      await app.close();
    }
  });
});
