import { describe, expect, it } from 'vitest';
import { type AccessPolicy, type Decision, decide, type Policy } from '../../src/core/decide.js';
import type { Identity } from '../../src/core/identity.js';
import { compileRules, type RuleSpec } from '../../src/core/rules.js';
import { buildTarget, parseAbsoluteTarget } from '../../src/core/target.js';

function person(email: string, groups: string[] = []): Identity {
  const id = email.split('@')[0] as string;
  return { id, username: id, email, name: email, groups, anonymous: false };
}

const alice = person('alice@example.com', ['staff']);
const bob = person('bob@other.org');
const root = person('root@example.com', ['admins']);
const writer = person('wendy@example.com', ['writers']);
const anonymousUser: Identity = {
  id: 'anonymous',
  username: 'anonymous',
  email: 'anonymous@localhost',
  name: 'Anonymous',
  groups: [],
  anonymous: true,
};

function policyOf(
  rules: RuleSpec[],
  defaultPolicy: Policy = 'authenticated',
  anonymousMode = false,
): AccessPolicy {
  return { defaultPolicy, rules: compileRules(rules), anonymousMode };
}

/** Decides for an absolute URL, as nginx's X-Original-URL carries it. */
function check(
  policy: AccessPolicy,
  url: string,
  identity: Identity | null,
  method = 'GET',
): Decision {
  const parsed = parseAbsoluteTarget(url, method);
  if (!parsed.ok) throw new Error(`bad test URL ${url}: ${parsed.reason}`);
  return decide(policy, parsed.target, identity, anonymousUser);
}

// The SPEC §2 example rules, plus enough to cover every matcher.
const rules: RuleSpec[] = [
  /* 0 */ { host: 'app.example.com', path: '/api/health', policy: 'bypass' },
  /* 1 */ { host: 'app.example.com', path: '/admin/status', policy: 'bypass' },
  /* 2 */ { host: '*.example.com', path: '/admin/**', groups: ['admins'] },
  /* 3 */ { host: 'wiki.example.com', emails: ['*@example.com'] },
  /* 4 */ { host: 'app.example.com', path: '/public/**', policy: 'bypass' },
  /* 5 */ { host: 'app.example.com', path: '/static/*.css', policy: 'bypass' },
  /* 6 */ {
    host: 'app.example.com',
    path: '/api/**',
    methods: ['post', 'DELETE'],
    groups: ['writers'],
  },
  /* 7 */ { host: 'mail.example.com', domains: ['Example.com'] },
  /* 8 */ { host: 'secret.example.com', policy: 'deny' },
  /* 9 */ { host: ['a.test', 'b.test'], path: ['/one', '/two/**'], groups: ['staff'] },
  /* 10 */ { path: '/everywhere/**', emails: ['root@example.com'] },
  /* 11 */ { host: 'open.example.com', policy: 'bypass' },
];
const policy = policyOf(rules);

type Row = [string, string, Identity | null, Decision['kind'], number];

describe('default policies (no rule matches)', () => {
  const table: [Policy, Identity | null, Decision['kind']][] = [
    ['bypass', null, 'allow'],
    ['bypass', alice, 'allow'],
    ['authenticated', null, 'login'],
    ['authenticated', alice, 'allow'],
    ['deny', alice, 'deny'],
  ];
  it.each(table)('%s, identity %j → %s', (defaultPolicy, identity, kind) => {
    const d = check(policyOf([], defaultPolicy), 'https://x.test/', identity);
    expect(d.kind).toBe(kind);
    expect(d.rule).toBe(-1);
  });

  it('deny never lets an anonymous request through', () => {
    expect(check(policyOf([], 'deny'), 'https://x.test/', null).kind).not.toBe('allow');
  });

  it('a bypass still names a signed-in user', () => {
    const d = check(policyOf([], 'bypass'), 'https://x.test/', alice);
    expect(d).toMatchObject({ kind: 'allow', identity: alice });
  });

  it('the default applies to hosts and paths no rule names', () => {
    expect(check(policy, 'https://unknown.test/admin/x', null)).toMatchObject({
      kind: 'login',
      rule: -1,
    });
    expect(check(policyOf(rules, 'deny'), 'https://unknown.test/', alice).kind).toBe('deny');
  });
});

describe('the rule table', () => {
  const table: Row[] = [
    // bypass by exact host + path
    ['https://app.example.com/api/health', 'GET', null, 'allow', 0],
    ['https://app.example.com/api/health?verbose=1', 'GET', null, 'allow', 0],
    ['https://app.example.com/api/health/', 'GET', null, 'login', -1],
    // first match wins: the bypass for /admin/status is listed before the admins rule
    ['https://app.example.com/admin/status', 'GET', null, 'allow', 1],
    ['https://app.example.com/admin/status', 'GET', bob, 'allow', 1],
    ['https://app.example.com/admin/other', 'GET', bob, 'deny', 2],
    ['https://app.example.com/admin/other', 'GET', null, 'login', 2],
    // `/admin/**` covers /admin and /admin/ too, on every subdomain
    ['https://app.example.com/admin', 'GET', bob, 'deny', 2],
    ['https://app.example.com/admin/', 'GET', bob, 'deny', 2],
    ['https://app.example.com/admin/a/b/c', 'GET', root, 'allow', 2],
    ['https://x.y.example.com/admin', 'GET', alice, 'deny', 2],
    ['https://x.y.example.com/admin', 'GET', root, 'allow', 2],
    ['https://app.example.com/administrator', 'GET', bob, 'allow', -1],
    // `*.example.com` is not example.com itself, nor a look-alike
    ['https://example.com/admin', 'GET', bob, 'allow', -1],
    ['https://evilexample.com/admin', 'GET', bob, 'allow', -1],
    // emails
    ['https://wiki.example.com/page', 'GET', alice, 'allow', 3],
    ['https://wiki.example.com/page', 'GET', bob, 'deny', 3],
    ['https://wiki.example.com/page', 'GET', person('ALICE@EXAMPLE.COM'), 'allow', 3],
    ['https://wiki.example.com/page', 'GET', person('eve@evil.example.com.org'), 'deny', 3],
    ['https://wiki.example.com/page', 'GET', null, 'login', 3],
    // path globs: `**` across segments, `*` inside one
    ['https://app.example.com/public', 'GET', null, 'allow', 4],
    ['https://app.example.com/public/a/b.png', 'GET', null, 'allow', 4],
    ['https://app.example.com/publicity', 'GET', null, 'login', -1],
    ['https://app.example.com/static/site.css', 'GET', null, 'allow', 5],
    ['https://app.example.com/static/a/site.css', 'GET', null, 'login', -1],
    ['https://app.example.com/static/site.js', 'GET', null, 'login', -1],
    // methods (case-insensitive in the config)
    ['https://app.example.com/api/items', 'POST', alice, 'deny', 6],
    ['https://app.example.com/api/items', 'DELETE', alice, 'deny', 6],
    ['https://app.example.com/api/items', 'POST', writer, 'allow', 6],
    ['https://app.example.com/api/items', 'GET', alice, 'allow', -1],
    ['https://app.example.com/api/items', 'PUT', alice, 'allow', -1],
    // domains: exact, case-insensitive, no subdomains or look-alikes
    ['https://mail.example.com/', 'GET', alice, 'allow', 7],
    ['https://mail.example.com/', 'GET', person('Carol@EXAMPLE.com'), 'allow', 7],
    ['https://mail.example.com/', 'GET', bob, 'deny', 7],
    ['https://mail.example.com/', 'GET', person('eve@sub.example.com'), 'deny', 7],
    ['https://mail.example.com/', 'GET', person('eve@evilexample.com'), 'deny', 7],
    // deny rule
    ['https://secret.example.com/', 'GET', root, 'deny', 8],
    // host and path lists, groups
    ['https://a.test/one', 'GET', alice, 'allow', 9],
    ['https://b.test/two/x', 'GET', alice, 'allow', 9],
    ['https://b.test/two', 'GET', bob, 'deny', 9],
    ['https://b.test/three', 'GET', bob, 'allow', -1],
    // a rule without host applies to every host
    ['https://anything.test/everywhere/x', 'GET', root, 'allow', 10],
    ['https://anything.test/everywhere/x', 'GET', alice, 'deny', 10],
    // a whole-host bypass
    ['https://open.example.com/anything', 'GET', null, 'allow', 11],
    ['https://OPEN.example.com./x', 'GET', null, 'allow', 11],
  ];
  it.each(table)('%s %s as %j → %s (rule %i)', (url, method, identity, kind, rule) => {
    const d = check(policy, url, identity, method);
    expect(d.kind).toBe(kind);
    expect(d.rule).toBe(rule);
  });

  it('a rule listed first wins over a later, more specific one', () => {
    const reversed = policyOf([
      { host: '*.example.com', path: '/admin/**', groups: ['admins'] },
      { host: 'app.example.com', path: '/admin/status', policy: 'bypass' },
    ]);
    expect(check(reversed, 'https://app.example.com/admin/status', null)).toMatchObject({
      kind: 'login',
      rule: 0,
    });
  });

  it('an allow names the user; a deny says who was refused and why', () => {
    expect(check(policy, 'https://app.example.com/x', alice)).toMatchObject({
      kind: 'allow',
      identity: alice,
      reason: 'authenticated',
    });
    const d = check(policy, 'https://app.example.com/admin/x', bob);
    expect(d).toMatchObject({ kind: 'deny', identity: bob });
    expect(d.reason).toMatch(/not allowed/);
  });
});

describe('bypass attempts that must not bypass', () => {
  // Rules 0, 1, 4, 5 and 11 bypass. Each of these reaches a bypass only through a trick; with no
  // session the answer must be "log in", never "allow".
  const attempts: string[] = [
    '/public/..%2fadmin/x',
    '/public/..%2Fadmin/x',
    '/public%2f..%2fadmin/x',
    '/public/..%5cadmin/x',
    '/public/..%5Cadmin/x',
    '/public/..\\admin/x',
    '/public\\..\\admin/x',
    '/public/%2e%2e/admin/x',
    '/public/%2E%2E/admin/x',
    '/public/.%2e/admin/x',
    '/public/..;/admin/x',
    '/public;x/..;/admin/x',
    '/public/x;/../../admin',
    '/admin/x;/../../public/y',
    '/public/%252e%252e/admin/x',
    '/public/..%252fadmin/x',
    '/public/..%252Fadmin/x',
    '/public/..%25252fadmin/x',
    '/admin/x%23/../../public/y',
    '/admin%23/../public/y',
    '/admin%3F/../public/y',
    '/secret%00/../public/y',
    '/admin/../public/y',
    '/admin/./../public/y',
    '/admin//../public/y',
    '/admin/x/../../public/y',
    '/?/public/x',
    '/x?/api/health',
    '/#/public/x',
    '/admin#/public/x',
    '/admin%23/public/x',
    '/admin%2523/../public/x',
    '/PUBLIC/x',
    '/Public/x',
    '/API/HEALTH',
    '/api/health/../../admin',
    '/api/health%2f..%2f..%2fadmin',
    '/api/health;/../admin',
    '/static/%2e%2e/admin.css',
    '/static/..%2fadmin/site.css',
  ];
  it.each(attempts)('https://app.example.com%s asks for a login', (path) => {
    const d = check(policy, `https://app.example.com${path}`, null);
    expect(d.kind).toBe('login');
  });

  it.each([
    'https://APP.Example.COM/admin/x',
    'https://app.example.com./admin/x',
    'https://app.example.com:443/admin/x',
  ])('host tricks do not reach a bypass: %s', (url) => {
    expect(check(policy, url, null).kind).toBe('login');
  });

  it('the same attempts by a signed-in non-admin are still refused where they lead to /admin', () => {
    for (const path of ['/public/..;/admin/x', '/public/..%2fadmin/x', '/public/..%5Cadmin/x']) {
      expect(check(policy, `https://app.example.com${path}`, bob).kind).toBe('deny');
    }
  });
});

describe('bypasses that must still pass', () => {
  const honoured: string[] = [
    '/public/a%20b.png',
    '/public/caf%C3%A9.png',
    '/public/%7Euser/x',
    '/p%75blic/x',
    '/public/x?next=/admin',
    '/public/x#/admin',
    '/public//x',
    '/api/health',
    '/static/site.css?v=3',
  ];
  it.each(honoured)('https://app.example.com%s is bypassed', (path) => {
    const d = check(policy, `https://app.example.com${path}`, null);
    expect(d.kind).toBe('allow');
    expect(d.reason).toBe('bypass');
  });
});

describe('restrictive rules still apply under the lenient reading', () => {
  // Rule 2 (`/admin/**`, groups: [admins]) for bob, who is signed in but not an admin.
  const paths: string[] = [
    '/admin/x',
    '/ADMIN/x',
    '/Admin',
    '/aDmIn/',
    '/admin%2Fx',
    '/admin%2fx',
    '/admin%5Cx',
    '/admin\\x',
    '/admin;x/y',
    '/admin;jsessionid=1',
    '/admin%3Bx/y',
    '/admin%252Fx',
    '/admin%23x',
    '/admin%3Fx',
    '/%61dmin/x',
    '/%41DMIN/x',
    '//admin/x',
    '/x/../admin',
    '/./admin',
    '/x/..%2fadmin',
    '/public/..;/admin',
  ];
  it.each(paths)('%s is denied to a non-admin', (path) => {
    expect(check(policy, `https://app.example.com${path}`, bob)).toMatchObject({
      kind: 'deny',
      rule: 2,
    });
  });

  it.each(paths)('%s is allowed to an admin', (path) => {
    expect(check(policy, `https://app.example.com${path}`, root).kind).toBe('allow');
  });

  it.each(paths)('%s asks an anonymous visitor to log in', (path) => {
    expect(check(policy, `https://app.example.com${path}`, null).kind).toBe('login');
  });

  it('a deny rule is not escaped by case or encoding either', () => {
    const p = policyOf([{ path: '/internal/**', policy: 'deny' }]);
    for (const path of ['/INTERNAL/x', '/internal%2Fx', '/internal;a/x', '/Internal%252Fx']) {
      expect(check(p, `https://x.test${path}`, root).kind).toBe('deny');
    }
  });
});

describe('anonymous mode', () => {
  const anon = policyOf(rules, 'deny', true);

  it('lets everyone through as anonymous_user', () => {
    expect(check(anon, 'https://secret.example.com/', null)).toMatchObject({
      kind: 'allow',
      identity: anonymousUser,
    });
  });

  it('still names a signed-in user', () => {
    expect(check(anon, 'https://app.example.com/admin/x', bob)).toMatchObject({
      kind: 'allow',
      identity: bob,
    });
  });
});

describe('targets built from forwarded parts decide the same as absolute URLs', () => {
  it('X-Forwarded-* parts and X-Original-URL agree', () => {
    const fromParts = buildTarget('https', 'APP.example.com.', '/public/..;/admin/x', 'GET');
    const fromUrl = parseAbsoluteTarget('https://app.example.com/public/..;/admin/x', 'GET');
    expect(fromParts.ok && fromUrl.ok).toBe(true);
    if (!fromParts.ok || !fromUrl.ok) return;
    expect(decide(policy, fromParts.target, bob, anonymousUser)).toEqual(
      decide(policy, fromUrl.target, bob, anonymousUser),
    );
  });
});
