import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/adapters/memory/memory-store.js';
import { ManualClock } from '../../src/core/clock.js';
import type { User } from '../../src/ports/store.js';
import { LoginLinks } from '../../src/services/login-links.js';
import { readCorpus } from '../fixtures/read-corpus.js';
import { TEST_SECRET } from '../helpers/app.js';
import { type ResendServer, startResendServer } from '../helpers/mail.js';
import { type LoggedApp, sessionCookieOf, startLoggedApp } from '../helpers/mail-app.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { BASIC, ENV as SCIM_ENV, scimRequest, USER } from '../helpers/scim.js';

const LINK_USED = '/auth/login?error=link_used';
const TTL = 15 * 60_000;

/** `name | step; step` lines of test/fixtures/magic-link-sequences.txt. */
const sequences = readCorpus(new URL('../fixtures/magic-link-sequences.txt', import.meta.url)).map(
  ({ line, value }) => {
    const bar = value.indexOf(' | ');
    if (bar === -1) throw new Error(`line ${line}: no " | "`);
    return {
      line,
      name: value.slice(0, bar),
      steps: value
        .slice(bar + 3)
        .split(';')
        .map((step) => step.trim().split(/\s+/)),
    };
  },
);

const ADMIN: User = {
  id: 'lifecycle-admin',
  username: 'root',
  email: 'root@example.com',
  name: 'root',
  groups: [],
  active: true,
  verified: true,
  createdAt: 0,
  lastLoginAt: null,
  admin: true,
};

describe.each(['memory', 'redis'] as const)('one-time links on a %s store', (kind) => {
  let redis: RedisServer | null = null;
  let resend: ResendServer;
  let app: LoggedApp;
  const clock = new ManualClock();

  beforeAll(async () => {
    if (kind === 'redis') redis = await startRedis();
    resend = await startResendServer();
    app = await startLoggedApp(
      {
        ...(redis ? { store: { url: redis.url } } : {}),
        auth: { magic_link: { mailer: 'resend' }, signup: 'open' },
        scim: { enabled: true },
      },
      {
        env: { RESEND_API_KEY: 're_key', RESEND_BASE_URL: resend.url, ...SCIM_ENV },
        clock,
      },
    );
  });
  afterAll(async () => {
    await app?.close();
    await resend?.close();
    await redis?.stop();
  });

  /**
   * What `portcullis login-url` does beside a memory:// server: its own empty store, the same
   * key, the same clock (one machine) — the server learns of the link only when it is used.
   */
  const cliLink = (email: string) =>
    new LoginLinks(
      new MemoryStore(clock),
      clock,
      [Buffer.from(TEST_SECRET, 'hex')],
      TTL,
      `${app.url}${app.ctx.config.prefix}`,
    ).issueSigned(email, '/');

  async function userOf(email: string): Promise<User> {
    return (await app.ctx.users.findOrCreate(email)) as User;
  }

  async function scimSetActive(email: string, active: boolean): Promise<void> {
    const user = await userOf(email);
    const answer = await scimRequest(
      app.url,
      'PATCH',
      `/Users/${user.id}`,
      {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', value: { active } }],
      },
      BASIC,
    );
    expect(answer.status).toBe(200);
  }

  async function adminAction(email: string, action: 'deactivate' | 'activate'): Promise<void> {
    const user = await userOf(email);
    const outcome = await app.ctx.admin.bulk(ADMIN, action, [user.id]);
    expect(outcome.notices.filter((n) => n.kind === 'error')).toEqual([]);
  }

  it.each(sequences)('line $line: $name', async ({ line, steps }) => {
    const email = `seq${line}.${kind}@example.com`;
    const links = new Map<string, string>();
    let asked = 0;
    for (const [verb, arg, expected] of steps) {
      const name = arg as string;
      switch (verb) {
        case 'link':
          await userOf(email);
          links.set(name, await app.ctx.loginLinks.issue(email, '/'));
          break;
        case 'cli':
          await userOf(email);
          links.set(name, cliLink(email));
          break;
        case 'ask': {
          asked += 1;
          expect((await app.askForLink(email)).status).toBe(200);
          const mail = await resend.waitForMailTo(email, asked);
          links.set(name, mail.link as string);
          break;
        }
        case 'tick':
          clock.advance(1000);
          break;
        case 'deactivate':
        case 'activate':
          if (arg === 'scim') await scimSetActive(email, verb === 'activate');
          else await adminAction(email, verb);
          break;
        case 'delete': {
          const user = await userOf(email);
          expect((await scimRequest(app.url, 'DELETE', `/Users/${user.id}`)).status).toBe(204);
          break;
        }
        case 'create': {
          const created = await scimRequest(app.url, 'POST', '/Users', {
            schemas: [USER],
            userName: email,
            emails: [{ value: email, primary: true }],
            active: true,
          });
          expect(created.status).toBe(201);
          break;
        }
        case 'redeem': {
          const link = links.get(name);
          if (!link) throw new Error(`line ${line}: no link ${name}`);
          const answer = await app.redeem(link);
          expect(answer.status).toBe(303);
          if (expected === 'ok') {
            expect(answer.headers.get('location')).toBe('/');
            expect(sessionCookieOf(answer)).not.toBeNull();
          } else {
            expect(expected).toBe('void');
            expect(answer.headers.get('location')).toBe(LINK_USED);
            expect(sessionCookieOf(answer)).toBeNull();
          }
          break;
        }
        default:
          throw new Error(`line ${line}: unknown step ${verb}`);
      }
    }
  });
});
