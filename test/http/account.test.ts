import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashAppToken } from '../../src/core/app-token.js';
import { CONTENT_SECURITY_POLICY } from '../../src/html.js';
import { expiryChoices } from '../../src/http/routes/account.js';
import type { User } from '../../src/ports/store.js';
import { type AccountClient, accountClient } from '../helpers/account-client.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

const SITE = 'https://auth.example.com';
const FIREFOX_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0';
const CHROME_ANDROID =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36';

const STORES = [
  { name: 'memory', redis: false },
  { name: 'redis', redis: true },
];

describe.each(STORES)('account page, $name store', ({ redis: onRedis }) => {
  let redis: RedisServer | null = null;
  let app: LoggedApp;

  beforeAll(async () => {
    if (onRedis) redis = await startRedis();
    app = await startLoggedApp({
      server: { public_url: SITE },
      auth: {
        magic_link: { mailer: 'manual' },
        // Sessions that came through OIDC are named as its button is.
        oidc: { display_name: 'Acme SSO' },
      },
      store: redis ? { url: redis.url, key_prefix: `acct-${randomBytes(4).toString('hex')}:` } : {},
    });
    client = accountClient(app, SITE);
  });
  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  let counter = 0;
  /** A fresh user with one session; more sessions with `signIn`. */
  async function newUser(): Promise<User> {
    counter += 1;
    return app.ctx.users.findOrCreate(
      `user${counter}-${randomBytes(3).toString('hex')}@example.com`,
    );
  }
  async function signIn(
    user: User,
    meta: { ip?: string; userAgent?: string; method?: string } = {},
  ): Promise<string> {
    const { cookie } = await app.ctx.sessions.create(user, {
      ip: meta.ip ?? '203.0.113.7',
      userAgent: meta.userAgent ?? FIREFOX_MAC,
      method: meta.method ?? 'magic_link',
    });
    return cookie;
  }

  let client: AccountClient;
  const get: AccountClient['get'] = (...args) => client.get(...args);
  const csrfOf: AccountClient['csrfOf'] = (cookie) => client.csrfOf(cookie);
  const post: AccountClient['post'] = (...args) => client.post(...args);

  /** Whether a session cookie still gets through a check. */
  const passes = async (cookie: string) =>
    (
      await fetch(`${app.url}/auth/nginx`, {
        headers: { cookie: `portcullis_session=${cookie}`, 'x-original-url': 'http://app.test/' },
      })
    ).status === 200;

  /** The message a 303 leads to, as the page then shows it. */
  async function follow(response: Response, cookie: string): Promise<string> {
    expect(response.status).toBe(303);
    const location = response.headers.get('location') ?? '';
    expect(location).toMatch(/^\/auth\/account\?done=[a-z_]+$/);
    return (await get(location, cookie)).text();
  }

  it('sends people who are not signed in to the login page, with rd back here', async () => {
    const response = await get('/auth/account');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(
      `/auth/login?rd=${encodeURIComponent(`${SITE}/auth/account`)}`,
    );
    const json = await get('/auth/account', undefined, { accept: 'application/json' });
    expect(json.status).toBe(401);
    expect(await json.json()).toMatchObject({ error: 'unauthenticated' });
    const dead = await get('/auth/account', 'not-a-session-cookie');
    expect(dead.status).toBe(303);
  });

  it('lists my sessions in words: this device marked, browser and OS, IP, method', async () => {
    const user = await newUser();
    const cookie = await signIn(user, { ip: '203.0.113.7', userAgent: FIREFOX_MAC });
    await signIn(user, { ip: '198.51.100.9', userAgent: CHROME_ANDROID, method: 'oidc' });
    await signIn(await newUser(), { ip: '192.0.2.99', userAgent: 'curl/8.5.0' });
    const response = await get('/auth/account', cookie);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = await response.text();
    expect(body).not.toContain('<script');
    expect(body).toContain(user.email);
    expect(body).toContain('Where you are signed in (2)');
    // This device comes first and is marked; it is offered "Sign out", not "End".
    expect(body).toMatch(
      /<tr aria-current="true">\s*<td>Firefox 127 on macOS <span class="badge current">this device<\/span><br><span class="muted">203\.0\.113\.7 · Email link<\/span>/,
    );
    expect(body).toContain('Chrome 126 on Android');
    expect(body).toContain('198.51.100.9 · Acme SSO');
    expect(body).toContain(
      'aria-label="End the session on Chrome 126 on Android from 198.51.100.9"',
    );
    // Someone else's session is nowhere on my page.
    expect(body).not.toContain('192.0.2.99');
    expect(body).toContain('Sign out everywhere else (1)');
    // Every field has a label.
    expect(body).toContain('<label for="token-name">');
    expect(body).toContain('<label for="token-expiry">');
    expect(body).toContain('id="token-name"');
  });

  it('ends one of my other sessions, and says so after a 303', async () => {
    const user = await newUser();
    const mine = await signIn(user);
    const other = await signIn(user, { userAgent: CHROME_ANDROID });
    const session = (await app.ctx.store.listUserSessions(user.id)).find(
      (s) => s.userAgent === CHROME_ANDROID,
    );
    expect(await passes(other)).toBe(true);
    const page = await follow(
      await post(mine, { action: 'end_session', session: session?.id ?? '' }),
      mine,
    );
    expect(page).toMatch(/role="status">That session has ended/);
    expect(await passes(other)).toBe(false);
    expect(await passes(mine)).toBe(true);
    expect(page).not.toContain('Chrome 126 on Android');
  });

  it("does nothing with another user's session id, and says so", async () => {
    const me = await newUser();
    const victim = await newUser();
    const mine = await signIn(me);
    const theirs = await signIn(victim);
    const [session] = await app.ctx.store.listUserSessions(victim.id);
    const page = await follow(
      await post(mine, { action: 'end_session', session: session?.id ?? '' }),
      mine,
    );
    expect(page).toMatch(/role="alert">Nothing was ended: that session is not one of yours/);
    expect(await passes(theirs)).toBe(true);
    // Nor with my own current session's id (that is what "Sign out" is for) or garbage.
    const [current] = await app.ctx.store.listUserSessions(me.id);
    for (const id of [current?.id ?? '', '', 'x'.repeat(500), '../../etc']) {
      const response = await post(mine, { action: 'end_session', session: id });
      expect(response.headers.get('location')).toBe('/auth/account?done=session_unknown');
    }
    expect(await passes(mine)).toBe(true);
  });

  it('"end all others" keeps this session and ends every other one', async () => {
    const user = await newUser();
    const bystander = await signIn(await newUser());
    const mine = await signIn(user);
    const others = [await signIn(user), await signIn(user), await signIn(user)];
    const page = await follow(await post(mine, { action: 'end_other_sessions' }), mine);
    expect(page).toMatch(/role="status">You are signed out everywhere except on this device/);
    expect(page).toContain('Where you are signed in (1)');
    expect(page).toContain('You are signed in on this device only.');
    expect(await passes(mine)).toBe(true);
    for (const cookie of others) expect(await passes(cookie)).toBe(false);
    expect(await passes(bystander)).toBe(true);
    const again = await post(mine, { action: 'end_other_sessions' });
    expect(again.headers.get('location')).toBe('/auth/account?done=no_others');
  });

  it('creates a token shown once, on the page answered directly, never in a URL', async () => {
    const user = await newUser();
    const mine = await signIn(user);
    const response = await post(mine, { action: 'create_token', name: 'Obsidian', expires: '30d' });
    expect(response.status).toBe(200);
    expect(response.headers.get('location')).toBeNull();
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = await response.text();
    const token = /value="(pcx_[A-Za-z0-9_-]+)"/.exec(body)?.[1] as string;
    expect(token).toBeTruthy();
    expect(body).toContain('Token “Obsidian” created');
    expect(body).toMatch(/<div class="issued" role="status">/);
    // Only its hash is stored, and it is the user's.
    const record = await app.ctx.store.findAppTokenByHash(hashAppToken(token));
    expect(record?.userId).toBe(user.id);
    expect(record?.name).toBe('Obsidian');
    expect((record?.expiresAt ?? 0) - (record?.createdAt ?? 0)).toBe(30 * 86_400_000);
    // The next view lists it without the secret.
    const later = await (await get('/auth/account', mine)).text();
    expect(later).toContain('<strong>Obsidian</strong>');
    expect(later).not.toContain(token);
    expect(later).not.toContain(token.slice(4, 30));
  });

  it('refuses a bad name or an expiry that was not offered, keeping what was typed', async () => {
    const user = await newUser();
    const mine = await signIn(user);
    for (const [name, expires] of [
      ['', '30d'],
      ['x'.repeat(65), '30d'],
      ['tab\there', '30d'],
      ['ok', '9999d'],
      ['ok', '0'],
      ['ok', ''],
    ] as const) {
      const response = await post(mine, { action: 'create_token', name, expires });
      expect(response.status).toBe(400);
      const body = await response.text();
      expect(body).toMatch(/role="alert">(No token was created|Choose when the token expires)/);
      expect(body).not.toMatch(/pcx_/);
    }
    const kept = await (
      await post(mine, { action: 'create_token', name: 'kept <b>', expires: '9999d' })
    ).text();
    expect(kept).toContain('value="kept &lt;b&gt;"');
    expect(await app.ctx.store.listUserAppTokens(user.id)).toHaveLength(0);
  });

  it('revokes my own token; another user’s token id does nothing and says so', async () => {
    const me = await newUser();
    const them = await newUser();
    const mine = await signIn(me);
    const theirs = await signIn(them);
    const create = async (cookie: string, name: string) => {
      const body = await (
        await post(cookie, { action: 'create_token', name, expires: '7d' })
      ).text();
      return /value="(pcx_[A-Za-z0-9_-]+)"/.exec(body)?.[1] as string;
    };
    await create(mine, 'script');
    await create(theirs, 'their phone');
    const [myToken] = await app.ctx.store.listUserAppTokens(me.id);
    const [theirToken] = await app.ctx.store.listUserAppTokens(them.id);
    const refused = await follow(
      await post(mine, { action: 'revoke_token', token: theirToken?.id ?? '' }),
      mine,
    );
    expect(refused).toMatch(/role="alert">Nothing was revoked: that token is not one of yours/);
    expect(await app.ctx.store.listUserAppTokens(them.id)).toHaveLength(1);
    const done = await follow(
      await post(mine, { action: 'revoke_token', token: myToken?.id ?? '' }),
      mine,
    );
    expect(done).toMatch(/role="status">The token is revoked/);
    expect(done).toContain('You have no app tokens.');
    expect(await app.ctx.store.listUserAppTokens(me.id)).toHaveLength(0);
    const twice = await post(mine, { action: 'revoke_token', token: myToken?.id ?? '' });
    expect(twice.headers.get('location')).toBe('/auth/account?done=token_unknown');
  });

  it('refuses forged posts: no token, a token of another session, a foreign origin', async () => {
    const user = await newUser();
    const mine = await signIn(user);
    const other = await signIn(user);
    const otherCsrf = await csrfOf(other);
    const cases: { csrf: string | null; headers?: Record<string, string> }[] = [
      { csrf: null },
      { csrf: 'x'.repeat(43) },
      { csrf: otherCsrf },
      { csrf: await csrfOf(mine), headers: { origin: 'https://evil.example' } },
      { csrf: await csrfOf(mine), headers: { 'sec-fetch-site': 'cross-site', origin: 'null' } },
      { csrf: await csrfOf(mine), headers: { 'sec-fetch-site': 'same-site', origin: 'null' } },
    ];
    for (const c of cases) {
      const response = await post(mine, { action: 'end_other_sessions' }, c);
      expect(response.status).toBe(403);
    }
    expect(await passes(other)).toBe(true);
    // Without a session the form does nothing either.
    const anonymous = await fetch(`${app.url}/auth/account`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'action=end_other_sessions',
    });
    expect(anonymous.status).toBe(403);
  });

  it('refuses repeated fields and unknown actions', async () => {
    const mine = await signIn(await newUser());
    const csrf = await csrfOf(mine);
    const body = `csrf=${csrf}&action=end_session&session=a&session=b`;
    const repeated = await fetch(`${app.url}/auth/account`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_session=${mine}`,
      },
      body,
    });
    expect(repeated.status).toBe(400);
    expect((await post(mine, { action: 'make_admin' })).status).toBe(400);
  });

  it('shows only known messages from the URL', async () => {
    const mine = await signIn(await newUser());
    const body = await (await get('/auth/account?done=<script>alert(1)</script>', mine)).text();
    expect(body).not.toContain('class="message');
    expect(body).not.toContain('alert(1)');
  });
});

describe('account page without app tokens', () => {
  let app: LoggedApp;
  beforeAll(async () => {
    app = await startLoggedApp({
      server: { public_url: SITE },
      auth: { magic_link: { mailer: 'manual' } },
      tokens: { enabled: false, max_lifetime: '45d' },
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('has no tokens section and refuses to create one', async () => {
    const user = await app.ctx.users.findOrCreate('notokens@example.com');
    const { cookie } = await app.ctx.sessions.create(user, {
      ip: '203.0.113.1',
      userAgent: FIREFOX_MAC,
      method: 'basic',
    });
    // A second session, so the page has a form (and a CSRF token) at all.
    await app.ctx.sessions.create(user, { ip: '203.0.113.2', userAgent: '', method: 'basic' });
    const response = await fetch(`${app.url}/auth/account`, {
      headers: { cookie: `portcullis_session=${cookie}` },
    });
    const body = await response.text();
    expect(body).toContain('Password');
    expect(body).not.toContain('App tokens');
    const csrf = /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
    const create = await fetch(`${app.url}/auth/account`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_session=${cookie}`,
      },
      body: new URLSearchParams({
        csrf,
        action: 'create_token',
        name: 'x',
        expires: '30d',
      }).toString(),
    });
    expect(csrf).not.toBe('');
    expect(create.status).toBe(400);
    expect(await app.ctx.store.listUserAppTokens(user.id)).toHaveLength(0);
  });
});

describe('token expiry choices', () => {
  const DAY = 86_400_000;
  it.each([
    [365 * DAY, ['7d', '30d', '90d', '180d', '365d'], '90d'],
    [45 * DAY, ['7d', '30d', 'max'], 'max'],
    [400 * DAY, ['7d', '30d', '90d', '180d', '365d', 'max'], '90d'],
    [12 * 3_600_000, ['max'], 'max'],
  ])('max_lifetime %i ms → %j, default %s', (max, values, preferred) => {
    const { choices, defaultValue } = expiryChoices(max);
    expect(choices.map((c) => c.value)).toEqual(values);
    expect(defaultValue).toBe(preferred);
    expect(Math.max(...choices.map((c) => c.ms))).toBe(max);
  });
  it('names the longest in words', () => {
    expect(expiryChoices(12 * 3_600_000).choices[0]?.label).toBe('12 hours');
  });
});
