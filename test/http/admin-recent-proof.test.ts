import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { RecentProofs } from '../../src/http/login/step-up-recent.js';
import { type PanelClient, panelClient } from '../helpers/admin-panel.js';
import { type LoggedApp, startLoggedApp } from '../helpers/mail-app.js';

/*
 * "Sudo mode" in the admin panel: a stolen admin cookie must not become every account. An admin
 * session that did not sign in or step up in the last 15 minutes is sent to the step-up before
 * any change that hands out access (login links, tokens, passwords, admin rights, groups, new
 * users, usernames, factors); the changes that only take access away (end a session, log out
 * everywhere, deactivate, revoke a token, remove a member) stay one click, as they are what an
 * admin does when a session is stolen. Nothing changes on a refused request.
 */

const SITE = 'https://auth.example.com';
const ADMIN = 'root@example.com';
const STALE_MS = 16 * 60_000;
const clock = new ManualClock(Date.now());
let app: LoggedApp;
let panel: PanelClient;

beforeAll(async () => {
  app = await startLoggedApp(
    {
      server: { public_url: SITE },
      auth: { enabled_auth: ['magic_link', 'basic'], magic_link: { mailer: 'manual' } },
      admin: { emails: [ADMIN] },
    },
    { clock },
  );
  panel = panelClient(app);
});
afterAll(async () => {
  await app?.close();
});

let counter = 0;
let subject: { id: string; email: string };
beforeEach(async () => {
  counter += 1;
  const user = await app.ctx.users.findOrCreate(`subject${counter}@example.com`);
  subject = { id: user.id, email: user.email };
});

/** An admin session, its CSRF token taken while fresh; then `STALE_MS` pass. */
async function staleAdmin(): Promise<{ cookie: string; csrf: string }> {
  const cookie = await panel.signIn(ADMIN);
  const page = await (await panel.get('/auth/admin', cookie)).text();
  const csrf = /name="csrf" value="([A-Za-z0-9_-]{43})"/.exec(page)?.[1] as string;
  clock.advance(STALE_MS);
  return { cookie, csrf };
}

const STEP_UP = (rd: string) => `/auth/login?rd=${encodeURIComponent(rd)}&step_up=recent`;

interface Change {
  action: string;
  fields: () => [string, string][];
  made: () => Promise<boolean>;
}

const ASKS_FIRST: Change[] = [
  {
    action: 'login_url',
    fields: () => [['user', subject.id]],
    made: async () => false, // checked by the answer: no link on a 303
  },
  {
    action: 'create_token',
    fields: () => [
      ['user', subject.id],
      ['name', 'ci'],
      ['expires', 'max'],
    ],
    made: async () => (await app.ctx.store.listUserAppTokens(subject.id)).length > 0,
  },
  {
    action: 'make_admin',
    fields: () => [
      ['user', subject.id],
      ['confirm', 'yes'],
    ],
    made: async () => app.ctx.users.isAdmin(await userOf(subject.id)),
  },
  {
    action: 'set_password',
    fields: () => [
      ['user', subject.id],
      ['password', 'correct horse battery staple'],
    ],
    made: async () => (await userOf(subject.id)).passwordHash !== undefined,
  },
  {
    action: 'set_username',
    fields: () => [
      ['user', subject.id],
      ['username', `renamed${counter}`],
    ],
    made: async () => (await userOf(subject.id)).username === `renamed${counter}`,
  },
  {
    action: 'create_group',
    fields: () => [['name', `grp${counter}`]],
    made: async () =>
      (await app.ctx.admin.groups.listGroups()).some((g) => g.name === `grp${counter}`),
  },
  {
    action: 'add_user',
    fields: () => [['email', `new${counter}@example.com`]],
    made: async () => (await app.ctx.store.getUserByEmail(`new${counter}@example.com`)) !== null,
  },
];

async function userOf(id: string) {
  const user = await app.ctx.store.getUser(id);
  if (!user) throw new Error('no such user');
  return user;
}

describe.each(ASKS_FIRST)('admin panel, stale session: $action', (change) => {
  it('is sent to the step-up and nothing changes', async () => {
    const { cookie, csrf } = await staleAdmin();
    const answer = await panel.post(
      cookie,
      [['action', change.action], ['view', subject.id], ...change.fields()],
      csrf,
    );
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe(
      STEP_UP(`/auth/admin?user=${encodeURIComponent(subject.id)}`),
    );
    expect(await answer.text()).not.toContain('/auth/magic?token=');
    expect(await change.made()).toBe(false);
  });
});

describe('admin panel, stale session', () => {
  it('still ends sessions, deactivates and revokes at once (what one does about a theft)', async () => {
    const { cookie, csrf } = await staleAdmin();
    const victim = await app.ctx.users.findOrCreate(subject.email);
    const { cookie: theirs } = await app.ctx.sessions.create(victim, {
      ip: '198.51.100.1',
      userAgent: 'x',
      method: 'magic_link',
    });
    const off = await panel.post(
      cookie,
      [
        ['action', 'logout_everywhere'],
        ['user', subject.id],
        ['confirm', 'yes'],
      ],
      csrf,
    );
    expect(off.status).toBe(200);
    expect((await app.ctx.sessions.resolve(theirs)).kind).not.toBe('valid');
    const deactivated = await panel.post(
      cookie,
      [
        ['action', 'deactivate'],
        ['user', subject.id],
        ['confirm', 'yes'],
      ],
      csrf,
    );
    expect(deactivated.status).toBe(200);
    expect((await userOf(subject.id)).active).toBe(false);
  });

  it('answers a JSON client 403 step_up_required with the step-up URL', async () => {
    const { cookie, csrf } = await staleAdmin();
    const body = new URLSearchParams([
      ['action', 'login_url'],
      ['user', subject.id],
      ['csrf', csrf],
    ]);
    const answer = await fetch(`${app.url}/auth/admin`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_session=${cookie}`,
      },
      body: body.toString(),
    });
    expect(answer.status).toBe(403);
    expect(await answer.json()).toEqual({
      error: 'step_up_required',
      step_up: STEP_UP('/auth/admin'),
    });
  });

  it('makes the change once the session stepped up, and a fresh session makes it at once', async () => {
    const { cookie, csrf } = await staleAdmin();
    const resolved = await app.ctx.sessions.resolve(cookie);
    if (resolved.kind !== 'valid') throw new Error('no session');
    await new RecentProofs(app.ctx.store, clock).record(resolved.live.session.id);
    const stepped = await panel.post(
      cookie,
      [
        ['action', 'login_url'],
        ['user', subject.id],
      ],
      csrf,
    );
    expect(stepped.status).toBe(200);
    expect(await stepped.text()).toContain('/auth/magic?token=');
    const fresh = await panel.signIn(ADMIN);
    const now = await panel.post(fresh, [
      ['action', 'create_token'],
      ['user', subject.id],
      ['view', subject.id],
      ['name', 'deploy'],
      ['expires', 'max'],
    ]);
    expect(now.status).toBe(200);
    expect((await app.ctx.store.listUserAppTokens(subject.id)).length).toBe(1);
  });

  it('still refuses an unknown action as a bad request, proof or not', async () => {
    const { cookie, csrf } = await staleAdmin();
    const answer = await panel.post(cookie, [['action', 'launch_missiles']], csrf);
    expect(answer.status).toBe(400);
  });
});
