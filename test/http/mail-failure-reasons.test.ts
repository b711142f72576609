import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { type LoginMail, MailError, type Mailer } from '../../src/mail/mailer.js';
import { ResendMailer } from '../../src/mail/resend-mailer.js';
import { SmtpMailer } from '../../src/mail/smtp-mailer.js';
import {
  type ResendServer,
  type SmtpCapture,
  startResendServer,
  startSmtpCapture,
} from '../helpers/mail.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';

/**
 * A failed send gives the admin a reason to act on (classified from codes, never the server's
 * own words), through real nodemailer to a real smtp-server and the Resend SDK to a local API;
 * the person who asked still sees only "could not send".
 */

const MAIL: LoginMail = {
  to: 'zoe@example.com',
  from: 'Portcullis <login@example.com>',
  subject: 'Sign in',
  text: 'link',
  html: '<p>link</p>',
  link: 'https://auth.example.com/auth/magic?token=x',
};

/** `html` with `email` and the CSRF value masked, to compare two people's pages. */
const strip = (html: string, email: string) =>
  html.replaceAll(email, 'ADDRESS').replace(/value="[A-Za-z0-9_-]{43}"/g, 'value="CSRF"');

/**
 * For one describe block: an app whose SMTP mailer signs in to a real smtp-server with the
 * wrong password; `top` and `auth` merge into its config. Read `app` inside the tests.
 */
function appWithWrongSmtpPassword(
  top: Record<string, unknown>,
  auth: Record<string, unknown> = {},
): { readonly app: LoggedApp } {
  let app: LoggedApp | undefined;
  let capture: SmtpCapture | undefined;
  beforeAll(async () => {
    const smtp = await startSmtpCapture({ auth: { user: 'mailer', pass: 'right' } });
    capture = smtp;
    app = await startLoggedApp({
      ...top,
      auth: {
        ...auth,
        magic_link: {
          mailer: 'smtp',
          from: 'Portcullis <login@example.com>',
          smtp: { url: smtp.url.replace('mailer:right@', 'mailer:wrong@') },
        },
      },
    });
  });
  afterAll(async () => {
    await app?.close();
    await capture?.close();
  });
  return {
    get app(): LoggedApp {
      if (!app) throw new Error('the app was not started');
      return app;
    },
  };
}

const servers: SMTPServer[] = [];
async function smtpServer(options: SMTPServerOptions): Promise<number> {
  const server = new SMTPServer({ logger: false, allowInsecureAuth: true, ...options });
  server.on('error', () => {});
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.server.address() as AddressInfo).port;
}

function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-mail-failure-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'k.pem',
      '-out',
      'c.pem',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  return { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) };
}

async function failureOf(mailer: Mailer): Promise<MailError> {
  const error = await mailer.send(MAIL).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MailError);
  return error as MailError;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

describe('SMTP failures are classified (real nodemailer, real smtp-server)', () => {
  const clock = new ManualClock();
  const now = () => clock.now();
  let ports: Record<'auth' | 'noAuth' | 'relay' | 'sender' | 'tls', number>;
  beforeAll(async () => {
    const refuse = (code: number, text: string) => {
      const error = new Error(text) as Error & { responseCode: number };
      error.responseCode = code;
      return error;
    };
    ports = {
      auth: await smtpServer({
        disabledCommands: ['STARTTLS'],
        onAuth: (_login, _session, callback) => callback(refuse(535, 'Bad creds for zoe')),
      }),
      noAuth: await smtpServer({
        disabledCommands: ['STARTTLS'],
        onAuth: (_login, _session, callback) => callback(null, { user: 'x' }),
      }),
      relay: await smtpServer({
        disabledCommands: ['STARTTLS', 'AUTH'],
        authOptional: true,
        onRcptTo: (_address, _session, callback) =>
          callback(refuse(554, '<zoe@example.com>: Relay access denied')),
      }),
      sender: await smtpServer({
        disabledCommands: ['STARTTLS', 'AUTH'],
        authOptional: true,
        onMailFrom: (_address, _session, callback) => callback(refuse(553, 'Sender rejected')),
      }),
      tls: await smtpServer({
        secure: true,
        ...selfSigned(),
        authOptional: true,
        disabledCommands: ['AUTH'],
      }),
    };
  });

  const cases: { name: string; url: () => string; reason: string | RegExp }[] = [
    {
      name: 'wrong password',
      url: () => `smtp://mailer:hunter2-secret@127.0.0.1:${ports.auth}`,
      reason: 'SMTP authentication failed (535)',
    },
    {
      name: 'no credentials where the server wants them',
      url: () => `smtp://127.0.0.1:${ports.noAuth}`,
      reason: /^the mail server requires authentication \(530\)/,
    },
    {
      name: 'relay refused',
      url: () => `smtp://127.0.0.1:${ports.relay}`,
      reason: /^the mail server refused the recipient \(554\)/,
    },
    {
      name: 'sender refused',
      url: () => `smtp://127.0.0.1:${ports.sender}`,
      reason: /^the mail server refused the sender address \(553\)/,
    },
    {
      name: 'connection refused',
      url: () => 'smtp://127.0.0.1:1',
      reason: 'could not connect to 127.0.0.1:1 (ECONNREFUSED)',
    },
    {
      name: 'certificate not trusted',
      url: () => `smtps://127.0.0.1:${ports.tls}`,
      reason: /^certificate not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/,
    },
    {
      name: 'TLS spoken to a plain port',
      url: () => `smtps://127.0.0.1:${ports.relay}`,
      reason: /^TLS handshake with 127\.0\.0\.1:\d+ failed \(ERR_SSL_WRONG_VERSION_NUMBER\)/,
    },
  ];

  it.each(cases)('$name', async ({ url, reason }) => {
    const mailer = new SmtpMailer(url(), { timeoutMs: 5000, now });
    expect(mailer.lastDeliveryFailure()).toBeNull();
    const error = await failureOf(mailer);
    if (typeof reason === 'string') expect(error.reason).toBe(reason);
    else expect(error.reason).toMatch(reason);
    // Never the server's own words or the URL's credentials.
    for (const secret of ['hunter2', 'zoe@example.com', 'Relay access', 'Bad creds'])
      expect(error.reason).not.toContain(secret);
    expect(mailer.lastDeliveryFailure()).toEqual({
      provider: 'smtp',
      at: clock.now(),
      reason: error.reason,
      recoveredAt: null,
    });
    await mailer.close();
  });

  it('keeps the last failure and notes when sending worked again', async () => {
    const capture: SmtpCapture = await startSmtpCapture({ auth: { user: 'u', pass: 'right' } });
    try {
      const wrong = capture.url.replace('u:right@', 'u:wrong@');
      const failing = new SmtpMailer(wrong, { now });
      await failureOf(failing);
      const at = clock.now();
      clock.advance(1000);
      const working = new SmtpMailer(capture.url, { now });
      await working.send(MAIL);
      expect(working.lastDeliveryFailure()).toBeNull();
      expect(failing.lastDeliveryFailure()?.at).toBe(at);
    } finally {
      await capture.close();
    }
  });
});

describe('Resend failures are classified (the SDK against a local API)', () => {
  let resend: ResendServer;
  const clock = new ManualClock();
  beforeAll(async () => {
    resend = await startResendServer();
  });
  afterAll(async () => {
    await resend?.close();
  });

  it.each([
    [401, 'missing_api_key', 'Resend rejected the API key (401): check RESEND_API_KEY'],
    [403, 'invalid_access', /^Resend refused to send \(403 invalid_access\)/],
    [422, 'validation_error', /^Resend rejected the message \(422 validation_error\)/],
    [429, 'rate_limit_exceeded', 'Resend rate limit or quota reached (429)'],
    [500, 'internal_server_error', 'Resend is failing (500)'],
  ] as const)('%i %s', async (status, name, reason) => {
    resend.failNext(1, status, { statusCode: status, name, message: 'key re_live_SECRET is bad' });
    const mailer = new ResendMailer({
      apiKey: 're_x',
      baseUrl: resend.url,
      now: () => clock.now(),
    });
    const error = await failureOf(mailer);
    if (typeof reason === 'string') expect(error.reason).toBe(reason);
    else expect(error.reason).toMatch(reason);
    expect(error.reason).not.toContain('SECRET');
    expect(mailer.lastDeliveryFailure()?.reason).toBe(error.reason);
  });

  it('an unreachable API', async () => {
    const mailer = new ResendMailer({ apiKey: 're_x', baseUrl: 'http://127.0.0.1:1' });
    expect((await failureOf(mailer)).reason).toMatch(/^could not reach the Resend API/);
  });
});

describe('a failed send reaches the admin, not the person', () => {
  const started = appWithWrongSmtpPassword({ admin: { emails: ['boss@example.com'] } });

  it('records the reason in the trail of the account the link was for, and shows the person the same page', async () => {
    const { app } = started;
    const user = await app.ctx.users.findOrCreate('known@example.com');
    const known = await app.askForLink('known@example.com');
    const stranger = await app.askForLink('stranger@example.com');
    expect(known.status).toBe(503);
    expect(stranger.status).toBe(503);
    const pages = [
      strip(await known.text(), 'known@example.com'),
      strip(await stranger.text(), 'stranger@example.com'),
    ];
    expect(pages[0]).toBe(pages[1]);
    expect(pages[0]).toContain('We could not send the email just now');
    expect(pages[0]).not.toContain('535');
    expect(pages[0]).not.toContain('authentication');

    let trail = await app.ctx.store.listAudit(user.id, 10);
    for (let i = 0; i < 50 && !trail.some((e) => e.event === 'link.send_failed'); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      trail = await app.ctx.store.listAudit(user.id, 10);
    }
    const entry = trail.find((e) => e.event === 'link.send_failed');
    expect(entry?.outcome).toBe('failure');
    expect(entry?.detail.reason).toBe('SMTP authentication failed (535)');
    // An address without an account has no trail; the audit line names the reason.
    const line = app.logs.find(
      (l) => l.event === 'link.send_failed' && l.subject === 'stranger@example.com',
    );
    expect(line?.reason).toBe('SMTP authentication failed (535)');
    expect(JSON.stringify(app.logs)).not.toContain('wrong@');

    // The admin panel's list says why, where someone can act on it.
    const boss = await app.ctx.users.findOrCreate('boss@example.com');
    const { cookie } = await app.ctx.sessions.create(boss, {
      ip: '127.0.0.1',
      userAgent: 'test',
      method: 'magic_link',
    });
    const panel = await (
      await fetch(`${app.url}/auth/admin`, { headers: { cookie: `portcullis_session=${cookie}` } })
    ).text();
    expect(panel).toContain('Sign-in email is not being sent');
    expect(panel).toContain('SMTP authentication failed (535)');
    expect(panel).not.toContain('wrong@');
  });
});

describe('invite_only while mail is failing: a refused address looks like a known one', () => {
  const started = appWithWrongSmtpPassword({}, { signup: 'invite_only' });

  it('both get the same 503 page once a send has failed', async () => {
    const { app } = started;
    await app.ctx.users.findOrCreate('member@example.com');
    const known = await app.askForLink('member@example.com');
    const outsider = await app.askForLink('outsider@example.com');
    expect(known.status).toBe(503);
    expect(outsider.status).toBe(503);
    expect(strip(await outsider.text(), 'outsider@example.com')).toBe(
      strip(await known.text(), 'member@example.com'),
    );
  });
});
