import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/core/password.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { formToken } from '../helpers/form-token.js';

/**
 * GET /auth/login: a signed-in browser sees who it is and where it can go, not a form; a
 * signed-out one sees one email field (identifier first) with a button per method that takes an
 * address, then the password step, which looks the same for every address.
 */
const NOTES = 'https://notes.example.com/today?tab=2';
const PASSWORD = 'correct horse battery';

let app: TestApp;
let proxied: TestApp;

beforeAll(async () => {
  const config = {
    server: { public_url: 'https://auth.example.com' },
    admin: { emails: ['boss@example.com'] },
    access: { rules: [{ host: 'notes.example.com', policy: 'authenticated' }] },
    auth: {
      enabled_auth: ['google_oauth', 'magic_link', 'basic', 'passkey'],
      magic_link: { mailer: 'log' },
      google_oauth: { issuer: 'https://127.0.0.1:9', client_id: 'id', client_secret: 'secret' },
      basic: { users: [{ email: 'pat@example.com', password_hash: await hashPassword(PASSWORD) }] },
    },
  };
  app = await startTestApp(config);
  proxied = await startTestApp({
    server: { public_url: 'https://app.example.com' },
    proxy: { upstream: 'http://127.0.0.1:9' },
  });
});

afterAll(async () => {
  await Promise.all([app?.close(), proxied?.close()]);
});

async function page(base: string, path: string, session?: string): Promise<string> {
  const response = await fetch(`${base}${path}`, {
    headers: session ? { cookie: `portcullis_session=${session}` } : {},
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-security-policy')).not.toContain('unsafe-inline');
  return response.text();
}

/** The document's text, tags dropped and white space folded. */
function text(html: string): string {
  return html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, ' ');
}

describe('signed in', () => {
  it('names the account and continues to a valid rd; no email field, no focus taken', async () => {
    const session = await app.login('ann@example.com');
    const body = await page(app.url, `/auth/login?rd=${encodeURIComponent(NOTES)}`, session);
    expect(text(body)).toContain("You're signed in as ann@example.com .");
    expect(body).toContain(
      `<a class="button" href="${NOTES.replace('&', '&amp;')}">Continue to <span class="target">notes.example.com/<wbr>today?<wbr>tab=2</span></a>`,
    );
    expect(body).toContain('href="/auth/account">Your account</a>');
    expect(body).not.toContain('Admin panel');
    expect(body).not.toContain('type="email"');
    expect(body).not.toContain('autofocus');
    expect(body).not.toContain('<script');
    // Sign out and "someone else" post to /logout with the CSRF token; the latter keeps rd.
    const forms = body.match(/<form method="post" action="\/auth\/logout">[\s\S]*?<\/form>/g) ?? [];
    expect(forms).toHaveLength(2);
    for (const form of forms) expect(form).toMatch(/name="csrf" value="[A-Za-z0-9_-]{43}"/);
    expect(forms[0]).toContain('Sign out');
    expect(forms[1]).toContain(
      `<input type="hidden" name="rd" value="${NOTES.replace('&', '&amp;')}">`,
    );
    expect(forms[1]).toContain('Sign in as someone else');
  });

  it('without rd, and not in proxy mode: the account page is the way on, nothing reloads the login page', async () => {
    const session = await app.login('ann@example.com');
    for (const rd of ['', '?rd=https%3A%2F%2Fevil.com%2F']) {
      const body = await page(app.url, `/auth/login${rd}`, session);
      expect(body).not.toContain('Continue');
      expect(body).toContain('<a class="button" href="/auth/account">Your account</a>');
      expect(body).not.toContain('evil');
      expect(body).not.toContain('name="rd"');
    }
  });

  it('in proxy mode without rd: continues to the app', async () => {
    const session = await proxied.login('ann@example.com');
    const body = await page(proxied.url, '/auth/login', session);
    expect(body).toContain(
      '<a class="button" href="/">Continue to <span class="target">app.example.com/</span></a>',
    );
  });

  it('offers the admin panel to admins only', async () => {
    const session = await app.login('boss@example.com');
    const body = await page(app.url, '/auth/login', session);
    expect(body).toContain('<a href="/auth/admin">Admin panel</a>');
  });

  it('"Sign in as someone else" signs out and comes back to the form with rd', async () => {
    const session = await app.login('switch@example.com');
    const cookie = `portcullis_session=${session}`;
    const { token, cookie: cookies } = await formToken(
      app.url,
      cookie,
      `/auth/login?rd=${encodeURIComponent(NOTES)}`,
    );
    const out = await fetch(`${app.url}/auth/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: cookies,
        origin: 'https://auth.example.com',
      },
      body: new URLSearchParams({ csrf: token, rd: NOTES }).toString(),
    });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe(
      `/auth/login?info=signed_out&rd=${encodeURIComponent(NOTES)}`,
    );
    const form = await page(app.url, out.headers.get('location') as string);
    expect(form).toContain('<h1>Sign in</h1>');
    expect(form).toContain('You are signed out.');
  });
});

describe('identifier first', () => {
  it('has one email field, then a button per email method, other methods apart, in order', async () => {
    const body = await page(app.url, `/auth/login?rd=${encodeURIComponent(NOTES)}`);
    expect(body.match(/type="email"/g)).toHaveLength(1);
    expect(body).toContain('<label for="email">Email address</label>');
    // Passkeys on: the field offers them in its autofill (the passkey script looks for this).
    expect(body).toMatch(
      /<input id="email" name="email" type="email"[^>]*autocomplete="username webauthn"[^>]*autofocus>/,
    );
    const email =
      /<form method="post" action="\/auth\/magic_link" class="method method-email">[\s\S]*?<\/form>/.exec(
        body,
      )?.[0] ?? '';
    expect(email).toContain(
      '<button type="submit" formaction="/auth/magic_link" aria-describedby="magic_link-help">Email me a sign-in link</button>',
    );
    expect(email).toContain(
      '<button type="submit" formaction="/auth/basic" name="step" value="password" class="secondary">Use my password</button>',
    );
    expect(email).toMatch(/name="csrf" value="[A-Za-z0-9_-]{43}"/);
    expect(email).toContain('name="rd" value="https://notes.example.com/today?tab=2"');
    // enabled_auth order: Google, the email form, the passkey (hidden until its script runs).
    const google = body.indexOf('Sign in with Google');
    const form = body.indexOf('class="method method-email"');
    const passkey = body.indexOf('data-passkey="signin"');
    expect(google).toBeGreaterThan(0);
    expect(form).toBeGreaterThan(google);
    expect(passkey).toBeGreaterThan(form);
    expect(body.slice(google, form)).toContain('class="divider"');
  });

  it('with only the magic link: one field, one button, no password words', async () => {
    const body = await page(proxied.url, '/auth/login');
    expect(body.match(/type="email"/g)).toHaveLength(1);
    expect(body.match(/<button/g)).toHaveLength(1);
    expect(body).toMatch(/<input id="email"[^>]*autocomplete="email"/);
    expect(body).not.toContain('password');
    expect(body).not.toContain('class="divider"');
  });

  async function passwordStep(email: string): Promise<Response> {
    const { token, cookie } = await formToken(app.url, '', '/auth/login');
    return fetch(`${app.url}/auth/basic`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie,
        origin: 'https://auth.example.com',
      },
      body: new URLSearchParams({ csrf: token, rd: NOTES, email, step: 'password' }).toString(),
    });
  }

  it('"Use my password" leads to the password step with the address shown and a way back', async () => {
    const response = await passwordStep('pat@example.com');
    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie().join()).not.toContain('portcullis_session=');
    const body = await response.text();
    expect(text(body)).toContain('Signing in as pat@example.com . Not you? Change address');
    expect(body).toContain(`href="/auth/login?rd=${encodeURIComponent(NOTES)}">Change address</a>`);
    expect(body).toContain(
      '<input name="email" type="email" autocomplete="username" value="pat@example.com" readonly hidden>',
    );
    expect(body).toMatch(
      /<label for="password">Password<\/label>\n<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024" autofocus>/,
    );
    expect(body).toContain('<form method="post" action="/auth/basic" class="method method-basic">');
    expect(body).not.toContain('<script');
  });

  it('is no account oracle: the password step for a known and an unknown address is the same page', async () => {
    const known = await passwordStep('pat@example.com');
    const unknown = await passwordStep('nobody-here@example.com');
    expect(known.status).toBe(unknown.status);
    const strip = (body: string, email: string) =>
      body
        .split(email)
        .join('EMAIL')
        .replace(/name="csrf" value="[A-Za-z0-9_-]{43}"/g, 'CSRF');
    const a = strip(await known.text(), 'pat@example.com');
    const b = strip(await unknown.text(), 'nobody-here@example.com');
    expect(a).toContain('EMAIL');
    expect(a).toBe(b);
  });

  it('a wrong password: the password step again with the same words; the right one signs in', async () => {
    const { token, cookie } = await formToken(app.url, '', '/auth/login');
    const post = (password: string) =>
      fetch(`${app.url}/auth/basic`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie,
          origin: 'https://auth.example.com',
        },
        body: new URLSearchParams({
          csrf: token,
          rd: NOTES,
          email: 'pat@example.com',
          password,
        }).toString(),
      });
    const wrong = await post('not it');
    expect(wrong.status).toBe(401);
    const body = await wrong.text();
    expect(body).toContain('<p class="message error" role="alert">Wrong email or password.</p>');
    expect(body).toContain('Signing in as <strong class="email">pat@example.com</strong>');
    expect(body).toContain('id="password"');
    const right = await post(PASSWORD);
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe(NOTES);
  });

  it('an empty address on "Use my password": the first step with a message', async () => {
    const response = await passwordStep('');
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).toContain('role="alert">Enter your email address.</p>');
    expect(body).toContain('<input id="email"');
  });
});
