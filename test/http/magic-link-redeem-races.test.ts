import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signLoginToken } from '../../src/core/one-time-token.js';
import { type ResendServer, startResendServer } from '../helpers/mail.js';
import { type LoggedApp, sessionCookieOf, startLoggedApp } from '../helpers/mail-app.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

const LINK_USED = '/auth/login?error=link_used';

/** Two browsers pressing "Sign in" on the same link at once. */
async function raceTwice(a: LoggedApp, b: LoggedApp, link: string) {
  const answers = await Promise.all([a.redeem(link), b.redeem(link)]);
  const winners = answers.filter((r) => sessionCookieOf(r) !== null);
  const losers = answers.filter((r) => r.headers.get('location') === LINK_USED);
  return { winners: winners.length, losers: losers.length };
}

describe('magic links on one instance (memory store)', () => {
  let app: LoggedApp;
  beforeAll(async () => {
    app = await startLoggedApp({ auth: { magic_link: { mailer: 'log' } } });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('two parallel uses of one link: exactly one wins', async () => {
    for (let i = 0; i < 5; i++) {
      const link = await app.ctx.loginLinks.issue(`race${i}@example.com`, '/');
      expect(await raceTwice(app, app, link)).toEqual({ winners: 1, losers: 1 });
    }
  });

  it('a replayed link lands on the login page with the message', async () => {
    const link = await app.ctx.loginLinks.issue('replay@example.com', '/x');
    expect((await app.redeem(link)).headers.get('location')).toBe('/x');
    const again = await app.redeem(link);
    expect(again.headers.get('location')).toBe(LINK_USED);
    expect(sessionCookieOf(again)).toBeNull();
    const page = await (await fetch(`${app.url}${LINK_USED}`)).text();
    expect(page).toContain('This link was already used or has expired. Ask for a new one below.');
  });

  it("refuses a link signed with another deployment's key, an unknown token and garbage", async () => {
    const foreign = signLoginToken(randomBytes(32), {
      email: 'admin@example.com',
      rd: '/',
      expiresAt: Date.now() + 600_000,
      issuedAt: Date.now(),
    });
    for (const token of [
      foreign,
      randomBytes(32).toString('base64url'),
      's1.x.y',
      'a'.repeat(3000),
    ]) {
      const answer = await app.redeem(`http://x/auth/magic?token=${encodeURIComponent(token)}`);
      expect(answer.headers.get('location')).toBe(LINK_USED);
      expect(sessionCookieOf(answer)).toBeNull();
    }
    expect(await app.ctx.store.getUserByEmail('admin@example.com')).toBeNull();
  });

  it('the confirm page does not use the link (mail scanners fetch it)', async () => {
    const link = await app.ctx.loginLinks.issue('scanner@example.com', '/');
    const path = new URL(link);
    for (let i = 0; i < 3; i++) {
      const page = await fetch(`${app.url}${path.pathname}${path.search}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Confirm sign-in');
    }
    expect(sessionCookieOf(await app.redeem(link))).not.toBeNull();
  });
});

describe('magic links across two instances sharing Redis', () => {
  let redis: RedisServer;
  let resend: ResendServer;
  let a: LoggedApp;
  let b: LoggedApp;
  beforeAll(async () => {
    redis = await startRedis();
    resend = await startResendServer();
    const config = {
      store: { url: redis.url },
      auth: { magic_link: { mailer: 'resend' }, signup: 'open' },
    };
    const env = { RESEND_API_KEY: 're_shared', RESEND_BASE_URL: resend.url };
    a = await startLoggedApp(config, { env });
    b = await startLoggedApp(config, { env });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await resend?.close();
    await redis?.stop();
  });

  it('a link asked for on one instance works once on the other', async () => {
    expect((await a.askForLink('shared@example.com', { rd: '/deep' })).status).toBe(200);
    const mail = await resend.waitForMailTo('shared@example.com');
    const first = await b.redeem(mail.link as string);
    expect(first.headers.get('location')).toBe('/deep');
    expect(sessionCookieOf(first)).not.toBeNull();
    expect((await a.redeem(mail.link as string)).headers.get('location')).toBe(LINK_USED);
  });

  it('two parallel uses on two instances: exactly one wins', async () => {
    for (let i = 0; i < 5; i++) {
      const link = await a.ctx.loginLinks.issue(`redis-race${i}@example.com`, '/');
      expect(await raceTwice(a, b, link)).toEqual({ winners: 1, losers: 1 });
    }
  });

  it('rate limits count across instances', async () => {
    const answers: number[] = [];
    for (let i = 0; i < 6; i++) {
      const app = i % 2 === 0 ? a : b;
      answers.push((await app.askForLink('limited@example.com', { ip: `203.0.113.${i}` })).status);
    }
    expect(answers).toEqual([200, 200, 200, 200, 200, 429]);
  });
});
