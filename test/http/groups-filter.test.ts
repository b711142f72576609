import { afterAll, describe, expect, it } from 'vitest';
import { groupsFilterFrom, identityHeaders } from '../../src/core/identity-headers.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, rawValues, startEchoUpstream } from '../helpers/upstream.js';

/**
 * Issue 11 item 2: `headers.groups_filter` sends only the groups the rules (or a list) name, so a
 * user in 200 directory groups does not carry all of them on every answer and upstream request.
 */

const GROUPS = Array.from({ length: 200 }, (_, i) => `team-${String(i).padStart(3, '0')}-eng`);
const RULE_GROUPS = ['team-150-eng', 'team-007-eng', 'not-a-member'];
const RULES: { host: string; path?: string; groups: string[] }[] = [
  { host: 'app.example.com', path: '/admin/**', groups: ['team-150-eng', 'not-a-member'] },
  { host: 'app.example.com', groups: ['team-007-eng'] },
];

interface Case {
  name: string;
  filter: 'rules' | string[] | null;
  /** What the groups headers carry, in the user's own order. */
  expected: string[];
}

const CASES: Case[] = [
  { name: 'no filter: every group', filter: null, expected: GROUPS },
  {
    name: 'rules: the 2 the rules name',
    filter: 'rules',
    expected: ['team-007-eng', 'team-150-eng'],
  },
  {
    name: 'a list: those of them the user has',
    filter: ['team-199-eng', 'team-000-eng', 'ops'],
    expected: ['team-000-eng', 'team-199-eng'],
  },
];

const ORIGINAL = { 'X-Original-URL': 'http://app.example.com/page', 'X-Original-Method': 'GET' };

/** Check paths: how their proxy names the request, the allow status, the groups header names. */
const CHECKS: { path: string; request: Record<string, string>; status: number; names: string[] }[] =
  [
    {
      path: '/auth/nginx',
      request: ORIGINAL,
      status: 200,
      names: ['Remote-Groups', 'X-Auth-Request-Groups'],
    },
    {
      path: '/api/verify',
      request: ORIGINAL,
      status: 200,
      names: ['Remote-Groups', 'X-Auth-Request-Groups'],
    },
    {
      path: '/oauth2/auth',
      request: { Host: 'app.example.com', 'X-Forwarded-Proto': 'http', 'X-Forwarded-Uri': '/page' },
      status: 202,
      names: ['X-Auth-Request-Groups', 'Remote-Groups'],
    },
  ];

const apps: TestApp[] = [];
const upstreams: EchoUpstream[] = [];
afterAll(async () => {
  await Promise.all([...apps.map((a) => a.close()), ...upstreams.map((u) => u.close())]);
});

async function appWith(filter: Case['filter'], upstream?: string): Promise<TestApp> {
  const app = await startTestApp({
    access: { rules: RULES },
    headers: { groups_filter: filter },
    ...(upstream ? { proxy: { upstream } } : {}),
  });
  apps.push(app);
  return app;
}

async function signIn(app: TestApp): Promise<string> {
  const user = await app.ctx.users.findOrCreate('many.groups@example.com');
  await app.ctx.store.updateUserGroups(user.id, () => [...GROUPS]);
  return app.login('many.groups@example.com');
}

describe('headers.groups_filter', () => {
  it.each(CASES)('forward auth, $name', async (row) => {
    const app = await appWith(row.filter);
    const cookie = await signIn(app);
    for (const check of CHECKS) {
      // The second answer comes from the per-session cache: still filtered.
      for (const round of [1, 2]) {
        const response = await fetch(`${app.url}${check.path}`, {
          headers: { ...check.request, Cookie: `portcullis_session=${cookie}` },
        });
        expect(response.status, `${check.path} #${round}`).toBe(check.status);
        for (const name of check.names) {
          expect(response.headers.get(name), `${check.path} ${name}`).toBe(row.expected.join(','));
        }
      }
    }
  });

  it.each(CASES)('reverse proxy, $name', async (row) => {
    const upstream = await startEchoUpstream();
    upstreams.push(upstream);
    const app = await appWith(row.filter, upstream.url);
    const cookie = await signIn(app);
    const response = await fetch(`${app.url}/page`, {
      headers: { Host: 'app.example.com', Cookie: `portcullis_session=${cookie}` },
    });
    expect(response.status).toBe(200);
    const seen = upstream.requests.at(-1);
    expect(seen).toBeDefined();
    for (const name of ['Remote-Groups', 'X-Auth-Request-Groups']) {
      expect(rawValues(seen as NonNullable<typeof seen>, name)).toEqual([row.expected.join(',')]);
    }
  });

  it('a rule that names no member group still decides on all the user has', async () => {
    // The filter shapes the headers only: a rule on a group the headers leave out still lets in.
    const app = await startTestApp({
      access: { rules: [{ host: 'app.example.com', groups: ['team-042-eng'] }] },
      headers: { groups_filter: ['team-001-eng'] },
    });
    apps.push(app);
    const cookie = await signIn(app);
    const response = await fetch(`${app.url}/auth/nginx`, {
      headers: {
        'X-Original-URL': 'http://app.example.com/',
        Cookie: `portcullis_session=${cookie}`,
      },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('Remote-Groups')).toBe('team-001-eng');
  });

  it('groupsFilterFrom and identityHeaders', () => {
    expect(groupsFilterFrom(null, RULES)).toBeNull();
    expect([...(groupsFilterFrom('rules', RULES) ?? [])].sort()).toEqual([...RULE_GROUPS].sort());
    expect(groupsFilterFrom('rules', [{}])?.size).toBe(0);
    const names = { user: [], email: [], name: [], groups: ['Remote-Groups'] };
    const identity = {
      id: 'u',
      username: 'u',
      email: 'u@example.com',
      name: 'U',
      groups: GROUPS,
      anonymous: false,
    };
    expect(identityHeaders({ ...names, groupsFilter: new Set() }, identity)).toEqual([
      'Remote-Groups',
      '',
    ]);
    expect(identityHeaders(names, identity)[1]).toBe(GROUPS.join(','));
  });
});
