import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { hashPassword } from '../../src/core/password.js';
import {
  type AuditEntry,
  StoreUnavailableError,
  type User,
  type UserInput,
} from '../../src/ports/store.js';
import { TEST_SECRET, writeConfig } from '../helpers/app.js';
import { formToken } from '../helpers/form-token.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { BASIC, BASIC_ENV, PATCH_OP, scimRequest, USER } from '../helpers/scim.js';

/**
 * The audit trail end to end: each action below, done over HTTP from a known address with a
 * known X-Request-Id, must leave its JSON line(s) on the audit logger, with who did what to whom
 * from where, and an entry in the subject's trail in the store; no line may carry a secret the
 * action used (link token or URL, session cookie, password, CSRF token, SCIM credentials). The
 * root logger runs at `warn`: audit lines are written anyway.
 */

type Line = Record<string, unknown>;

const ADMIN = 'admin@example.com';
const PASSWORD = 'right password 1';
const CSRF = 'k'.repeat(43);

interface Harness {
  app: App;
  lines: Line[];
}

interface Expected {
  event: string;
  actor: string;
  subject?: string;
  outcome: 'success' | 'failure';
  /** Fields the line must also have. */
  fields?: Line;
}

interface Done {
  /** Strings that must appear in no log line. */
  secrets: string[];
  /** Whose trail must show the events (by email). */
  trailOf: string;
}

interface Case {
  name: string;
  expect: Expected[];
  act(h: Harness, from: Record<string, string>): Promise<Done>;
}

let serial = 0;
const unique = (name: string) => {
  serial += 1;
  return `${name}${serial}@example.com`;
};

function newUser(email: string, extra: Partial<User> = {}): UserInput {
  return {
    id: randomBytes(8).toString('hex'),
    email,
    name: email.split('@')[0] as string,
    groups: [],
    active: true,
    verified: true,
    createdAt: Date.now(),
    lastLoginAt: null,
    ...extra,
  };
}

/** A session made straight in the store (no audit event of its own); returns the cookie value. */
async function sessionOf(app: App, user: User): Promise<string> {
  const { cookie } = await app.ctx.sessions.create(user, {
    ip: '127.0.0.1',
    userAgent: 'vitest',
    method: 'test',
  });
  return cookie;
}

async function userOf(app: App, email: string): Promise<User> {
  const user = await app.ctx.store.getUserByEmail(email);
  if (!user) throw new Error(`no user ${email}`);
  return user;
}

async function redeem(app: App, link: string, from: Record<string, string>): Promise<Response> {
  const token = new URL(link).searchParams.get('token') as string;
  return fetch(`${app.url}/auth/magic`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      ...from,
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `portcullis_csrf=${CSRF}`,
    },
    body: new URLSearchParams({ token, csrf: CSRF }).toString(),
  });
}

/** POST /auth/magic_link as the sign-in page's form does. */
function askForLink(app: App, email: string, from: Record<string, string>): Promise<Response> {
  return fetch(`${app.url}/auth/magic_link`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      ...from,
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `portcullis_csrf=${CSRF}`,
    },
    body: new URLSearchParams({ email, rd: '/', csrf: CSRF }).toString(),
  });
}

function sessionCookie(response: Response): string {
  const match = /portcullis_session=([^;]+)/.exec(response.headers.get('set-cookie') ?? '');
  if (!match?.[1]) throw new Error(`no session cookie: ${response.status}`);
  return match[1];
}

/** POSTs a form as a signed-in browser: the CSRF token the pages hand this session. */
async function postForm(
  app: App,
  path: string,
  cookie: string,
  fields: [string, string][],
  from: Record<string, string>,
): Promise<{ response: Response; csrf: string }> {
  const { token } = await formToken(app.url, `portcullis_session=${cookie}`);
  const response = await fetch(`${app.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      ...from,
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `portcullis_session=${cookie}`,
    },
    body: new URLSearchParams([...fields, ['csrf', token]]).toString(),
  });
  return { response, csrf: token };
}

const CASES: Case[] = [
  {
    name: 'sign-in by link',
    expect: [
      {
        event: 'auth.login',
        actor: 'self',
        subject: 'self',
        outcome: 'success',
        fields: { method: 'magic_link' },
      },
      { event: 'session.created', actor: 'self', subject: 'self', outcome: 'success' },
    ],
    async act({ app }, from) {
      const email = unique('link');
      const link = await app.ctx.loginLinks.issue(email, '/');
      const response = await redeem(app, link, from);
      expect(response.status).toBe(303);
      const cookie = sessionCookie(response);
      return {
        secrets: [link, new URL(link).searchParams.get('token') as string, cookie],
        trailOf: email,
      };
    },
  },
  {
    name: 'link asked for on the sign-in page',
    expect: [
      {
        event: 'link.issued',
        actor: 'anonymous',
        subject: 'self',
        outcome: 'success',
        fields: { via: 'manual' },
      },
    ],
    async act({ app }, from) {
      const email = unique('asked');
      const response = await askForLink(app, email, from);
      expect(response.status).toBe(200);
      return { secrets: [], trailOf: email };
    },
  },
  {
    name: 'link asked for too often',
    expect: [
      {
        event: 'auth.login_failed',
        actor: 'anonymous',
        outcome: 'failure',
        fields: { method: 'magic_link', reason: 'rate_limited' },
      },
    ],
    async act({ app }, from) {
      const email = unique('often');
      for (let i = 0; i < 5; i += 1) await askForLink(app, email, {});
      const response = await askForLink(app, email, from);
      expect(response.status).toBe(429);
      return { secrets: [], trailOf: '' };
    },
  },
  {
    name: 'dead link',
    expect: [
      {
        event: 'auth.login_failed',
        actor: 'anonymous',
        outcome: 'failure',
        fields: { method: 'magic_link', reason: 'dead_link' },
      },
    ],
    async act({ app }, from) {
      const email = unique('dead');
      const link = await app.ctx.loginLinks.issue(email, '/');
      await redeem(app, link, {});
      const again = await redeem(app, link, from);
      expect(again.headers.get('location')).toBe('/auth/login?error=link_used');
      return { secrets: [link, new URL(link).searchParams.get('token') as string], trailOf: '' };
    },
  },
  {
    name: 'bad password',
    expect: [
      {
        event: 'auth.login_failed',
        actor: 'anonymous',
        subject: 'self',
        outcome: 'failure',
        fields: { method: 'basic', reason: 'bad_password' },
      },
    ],
    async act({ app }, from) {
      const email = unique('pw');
      await app.ctx.store.createUser(
        newUser(email, { passwordHash: await hashPassword(PASSWORD) }),
      );
      const wrong = `wrong-${randomBytes(6).toString('hex')}`;
      const response = await fetch(`${app.url}/auth/basic`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          ...from,
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `portcullis_csrf=${CSRF}`,
        },
        body: new URLSearchParams({ csrf: CSRF, email, password: wrong }).toString(),
      });
      expect(response.status).toBe(401);
      return { secrets: [wrong, PASSWORD], trailOf: email };
    },
  },
  {
    name: 'logout',
    expect: [
      {
        event: 'session.ended',
        actor: 'self',
        subject: 'self',
        outcome: 'success',
        fields: { reason: 'logout', sessions: 1 },
      },
    ],
    async act({ app }, from) {
      const email = unique('out');
      const cookie = await sessionOf(app, await app.ctx.store.createUser(newUser(email)));
      const { response, csrf } = await postForm(app, '/auth/logout', cookie, [], from);
      expect(response.status).toBe(303);
      return { secrets: [cookie, csrf], trailOf: email };
    },
  },
  {
    name: 'logout everywhere',
    expect: [
      {
        event: 'session.ended',
        actor: 'self',
        subject: 'self',
        outcome: 'success',
        fields: { reason: 'everywhere', sessions: 2 },
      },
    ],
    async act({ app }, from) {
      const email = unique('every');
      const user = await app.ctx.store.createUser(newUser(email));
      const other = await sessionOf(app, user);
      const cookie = await sessionOf(app, user);
      const { response, csrf } = await postForm(app, '/auth/logout?everywhere=1', cookie, [], from);
      expect(response.status).toBe(303);
      return { secrets: [cookie, other, csrf], trailOf: email };
    },
  },
  {
    name: 'admin deactivate',
    expect: [
      {
        event: 'admin.deactivate',
        actor: ADMIN,
        subject: 'self',
        outcome: 'success',
        fields: { sessions_ended: 1 },
      },
      {
        event: 'session.ended',
        actor: ADMIN,
        subject: 'self',
        outcome: 'success',
        fields: { reason: 'deactivated', sessions: 1 },
      },
    ],
    async act({ app }, from) {
      const email = unique('bob');
      const bob = await app.ctx.store.createUser(newUser(email));
      const bobCookie = await sessionOf(app, bob);
      const adminCookie = await sessionOf(app, await userOf(app, ADMIN));
      const { response, csrf } = await postForm(
        app,
        '/auth/admin',
        adminCookie,
        [
          ['action', 'deactivate'],
          ['user', bob.id],
          ['confirm', 'yes'],
        ],
        from,
      );
      expect(await response.text()).toContain(`Deactivated ${email}`);
      return { secrets: [adminCookie, bobCookie, csrf], trailOf: email };
    },
  },
  {
    name: 'admin issues a login URL',
    expect: [
      { event: 'admin.login_url_issued', actor: ADMIN, subject: 'self', outcome: 'success' },
      {
        event: 'link.issued',
        actor: ADMIN,
        subject: 'self',
        outcome: 'success',
        fields: { via: 'admin' },
      },
    ],
    async act({ app }, from) {
      const email = unique('handed');
      const user = await app.ctx.store.createUser(newUser(email));
      const adminCookie = await sessionOf(app, await userOf(app, ADMIN));
      const { response, csrf } = await postForm(
        app,
        '/auth/admin',
        adminCookie,
        [
          ['action', 'login_url'],
          ['user', user.id],
        ],
        from,
      );
      const link = /<code>(https:\/\/auth\.example\.com\/auth\/magic\?token=[^<]+)<\/code>/.exec(
        await response.text(),
      )?.[1];
      expect(link).toBeTruthy();
      const token = new URL(link as string).searchParams.get('token') as string;
      return { secrets: [link as string, token, adminCookie, csrf], trailOf: email };
    },
  },
  {
    name: 'SCIM PATCH email',
    expect: [
      {
        event: 'scim.change_email',
        actor: 'scim',
        subject: 'self',
        outcome: 'success',
        fields: { sessions_ended: 1 },
      },
      {
        event: 'session.ended',
        actor: 'scim',
        subject: 'self',
        outcome: 'success',
        fields: { reason: 'email_changed', sessions: 1 },
      },
    ],
    async act({ app }, from) {
      const before = unique('scim-old');
      const after = unique('scim-new');
      const created = await scimRequest(app.url, 'POST', '/Users', {
        schemas: [USER],
        userName: before,
        emails: [{ value: before, primary: true }],
      });
      expect(created.status).toBe(201);
      const cookie = await sessionOf(app, await userOf(app, before));
      const patched = await scimRequest(
        app.url,
        'PATCH',
        `/Users/${created.json.id as string}`,
        {
          schemas: [PATCH_OP],
          Operations: [{ op: 'replace', path: 'emails[primary eq true].value', value: after }],
        },
        BASIC,
        from,
      );
      expect(patched.status).toBe(200);
      return {
        secrets: [BASIC.slice('Basic '.length), BASIC_ENV.SCIM_PASSWORD, cookie],
        trailOf: after,
      };
    },
  },
];

async function startAuditApp(store: Record<string, unknown>): Promise<Harness> {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim()) lines.push(JSON.parse(line) as Line);
      callback();
    },
  });
  const path = writeConfig({
    server: { public_url: 'https://auth.example.com' },
    store,
    admin: { emails: [ADMIN] },
    scim: { enabled: true },
    auth: {
      secret_key: TEST_SECRET,
      enabled_auth: ['magic_link', 'basic'],
      magic_link: { mailer: 'manual' },
    },
  });
  const app = await startApp(loadConfig({ path, env: BASIC_ENV }), {
    // `warn`: an operator who turned the logs down still gets the audit lines.
    logger: pino({ level: 'warn' }, stream),
    listen: { host: '127.0.0.1', port: 0 },
  });
  await app.ctx.store.createUser(newUser(ADMIN));
  return { app, lines };
}

/** Polls: a few trail writes are not waited for by the answer (see password.ts). */
async function trailOf(app: App, userId: string, events: string[]): Promise<AuditEntry[]> {
  const started = Date.now();
  for (;;) {
    const trail = await app.ctx.store.listAudit(userId, 100);
    if (events.every((event) => trail.some((entry) => entry.event === event))) return trail;
    if (Date.now() - started > 2000) return trail;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const STORES = [
  { name: 'memory', redis: false },
  { name: 'redis', redis: true },
];

describe.each(STORES)('audit log, $name store', ({ redis: onRedis }) => {
  let redis: RedisServer | null = null;
  let h: Harness;

  beforeAll(async () => {
    if (onRedis) redis = await startRedis();
    h = await startAuditApp(
      redis ? { url: redis.url, key_prefix: `audit-${randomBytes(4).toString('hex')}:` } : {},
    );
  });
  afterAll(async () => {
    await h?.app.close();
    await redis?.stop();
  });

  it.each(CASES.map((c, index) => ({ ...c, index })))('$name', async (c) => {
    const ip = `198.51.100.${c.index + 10}`;
    const requestId = `audit-${c.index}-${randomBytes(3).toString('hex')}`;
    const from = { 'x-forwarded-for': ip, 'x-request-id': requestId };
    const startAt = h.lines.length;
    const done = await c.act(h, from);
    // The trail is the last thing written: wait for it, then read the lines.
    const subject = done.trailOf ? await userOf(h.app, done.trailOf) : null;
    const trail = subject
      ? await trailOf(
          h.app,
          subject.id,
          c.expect.filter((e) => e.event !== 'session.created').map((e) => e.event),
        )
      : [];
    const lines = h.lines.slice(startAt);
    const audit = lines.filter((line) => line.audit === true && line.request_id === requestId);
    for (const want of c.expect) {
      const name = (who: string) => (who === 'self' ? done.trailOf : who);
      const line = audit.find((l) => l.event === want.event);
      expect(line, `${want.event} in ${JSON.stringify(lines)}`).toMatchObject({
        event: want.event,
        outcome: want.outcome,
        actor: name(want.actor),
        ip,
        request_id: requestId,
        ...(want.subject ? { subject: name(want.subject), subject_id: subject?.id } : {}),
        ...want.fields,
      });
      if (want.event === 'session.created') continue;
      if (!subject) continue;
      expect(trail.find((entry) => entry.event === want.event)).toMatchObject({
        outcome: want.outcome,
        actor: name(want.actor),
        ip,
        requestId,
      });
    }
    // No secret in any line written meanwhile, audit or not.
    const text = JSON.stringify(lines);
    for (const secret of done.secrets) expect(text).not.toContain(secret);
    for (const entry of trail) {
      const stored = JSON.stringify(entry);
      for (const secret of done.secrets) expect(stored).not.toContain(secret);
    }
  });

  it("shows the user's recent activity on their admin page, escaped", async () => {
    const email = unique('shown');
    const link = await h.app.ctx.loginLinks.issue(email, '/');
    const cookie = sessionCookie(
      await redeem(h.app, link, { 'x-forwarded-for': '192.0.2.44', 'x-request-id': 'shown-1' }),
    );
    await postForm(h.app, '/auth/logout', cookie, [], { 'x-forwarded-for': '192.0.2.45' });
    const user = await userOf(h.app, email);
    await h.app.ctx.store.appendAudit(user.id, {
      at: Date.now(),
      event: 'auth.login_failed',
      outcome: 'failure',
      actor: '<img src=x onerror=alert(1)>',
      ip: '192.0.2.46',
      requestId: null,
      detail: { reason: 'refused', detail: '<script>alert(2)</script>' },
    });
    const adminCookie = await sessionOf(h.app, await userOf(h.app, ADMIN));
    const page = await (
      await fetch(`${h.app.url}/auth/admin?user=${user.id}`, {
        headers: { cookie: `portcullis_session=${adminCookie}` },
      })
    ).text();
    const section = page.slice(page.indexOf('<h2>Recent activity</h2>'));
    expect(section).toContain('<table id="recent-activity">');
    // Event codes carry line-break chances (<wbr>) at their dots.
    const rows = section.replaceAll('<wbr>', '').split('<tr>').slice(2);
    // Newest first: the planted failure, the logout, the sign-in.
    expect(rows[0]).toContain('auth.login_failed');
    expect(rows[0]).toContain('failure');
    expect(rows[1]).toContain('session.ended');
    expect(rows[1]).toContain('192.0.2.45');
    expect(rows[2]).toContain('auth.login');
    expect(rows[2]).toContain('192.0.2.44');
    expect(rows[2]).toContain('method: magic_link');
    expect(section).not.toContain('<script>alert');
    expect(section).not.toContain('<img src=x');
    expect(section).toContain('&lt;script&gt;alert(2)&lt;/script&gt;');
    // The page keeps the "Explain access" form beside it.
    expect(page).toContain('<h2>Explain access</h2>');
    expect(page).not.toContain(new URL(link).searchParams.get('token') as string);
  });
});

describe('audit log, store trouble', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startAuditApp({});
  });
  afterAll(async () => {
    await h?.app.close();
  });

  it('a trail write that fails never fails the sign-in: the line is written, with a warning', async () => {
    const store = h.app.ctx.store;
    const append = store.appendAudit.bind(store);
    store.appendAudit = async () => {
      throw new StoreUnavailableError(new Error('connection lost'));
    };
    try {
      const email = unique('down');
      const response = await redeem(h.app, await h.app.ctx.loginLinks.issue(email, '/'), {
        'x-request-id': 'down-1',
      });
      expect(response.status).toBe(303);
      expect(sessionCookie(response)).toBeTruthy();
      expect(h.lines).toContainEqual(
        expect.objectContaining({ audit: true, event: 'auth.login', request_id: 'down-1' }),
      );
      expect(h.lines).toContainEqual(
        expect.objectContaining({
          level: 40,
          msg: 'audit trail entry not stored; the action itself went through',
        }),
      );
    } finally {
      store.appendAudit = append;
    }
  });

  it('the admin page says so when the trail cannot be read, and still shows the user', async () => {
    const store = h.app.ctx.store;
    const list = store.listAudit.bind(store);
    store.listAudit = async () => {
      throw new StoreUnavailableError(new Error('connection lost'));
    };
    try {
      const user = await store.createUser(newUser(unique('unread')));
      const adminCookie = await sessionOf(h.app, await userOf(h.app, ADMIN));
      const response = await fetch(`${h.app.url}/auth/admin?user=${user.id}`, {
        headers: { cookie: `portcullis_session=${adminCookie}` },
      });
      expect(response.status).toBe(200);
      const page = await response.text();
      expect(page.replace(/<wbr>|<span class="seg">|<\/span>/g, '')).toContain(user.email);
      expect(page).toContain('recent activity cannot be shown just now');
    } finally {
      store.listAudit = list;
    }
  });
});
