import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCorpus } from '../fixtures/read-corpus.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { HTML, type Reply, send } from '../helpers/proxy-scenarios.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

/**
 * Issue 15: the 403 a signed-in person sees names the account, says the account may not open
 * the page (and which group would), and offers "Sign in as someone else", "Sign out" and the
 * account page: the Traefik / Caddy / Authelia forward-auth answers, reverse-proxy mode and
 * `GET <prefix>/forbidden` (what nginx's error_page serves). Real sockets, in-process server.
 */

const RULES = [
  { path: '/admin/**', groups: ['admins'] },
  { path: '/ops/**', groups: ['ops', 'sre'] },
  { path: '/staff/**', emails: ['*@staff.example.com'] },
  { path: '/closed/**', policy: 'deny' },
];

function field(body: string, name: string): string | null {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(body);
  return match ? (match[1] as string).replace(/&amp;/g, '&') : null;
}

function expectNamedPage(reply: Reply, base: string): void {
  expect(reply.status).toBe(403);
  expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(reply.body).toContain(
    'You are signed in as<br><strong class="address">ann@example.com</strong>',
  );
  expect(reply.body).toContain('This account may not open');
  expect(reply.body).toContain(`<form method="post" action="${base}/logout">`);
  expect(field(reply.body, 'csrf')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(reply.body).toContain('Sign in as someone else');
  expect(reply.body).toContain('Sign out');
  expect(reply.body).toContain(`href="${base}/account"`);
  // Shown on the app's host: stylesheet by absolute URL, and the CSP lets it in.
  expect(reply.body).toContain(`href="${base}/static/style.css"`);
  expect(reply.headers['content-security-policy']).toContain(
    `style-src 'self' ${new URL(base).origin}`,
  );
  expect(reply.headers['cache-control']).toBe('no-store');
}

describe('forward-auth 403 (Traefik, Caddy, Authelia dialect)', () => {
  let app: TestApp;
  let ann = '';
  const publicUrl = 'https://app.example.com';
  const base = `${publicUrl}/auth`;

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: publicUrl },
      access: { default_policy: 'authenticated', rules: RULES },
    });
    ann = await app.login('ann@example.com');
  });
  afterAll(async () => {
    await app.close();
  });

  function check(
    path: string,
    uri: string,
    options: { method?: string; accept?: string; cookie?: string } = {},
  ) {
    return send(app.url, path, {
      method: options.method === 'HEAD' ? 'HEAD' : 'GET',
      headers: [
        ['X-Forwarded-Method', options.method ?? 'GET'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'app.example.com'],
        ['X-Forwarded-Uri', uri],
        ['Accept', options.accept ?? HTML],
        ['Cookie', `portcullis_session=${options.cookie ?? ann}`],
      ],
    });
  }

  it.each(['/auth/traefik', '/api/authz/forward-auth'])(
    '%s: names the account, the group needed, and the ways on',
    async (path) => {
      const reply = await check(path, '/admin/users?page=2');
      expectNamedPage(reply, base);
      expect(reply.body).toContain('members of the group <strong>admins</strong>');
      expect(field(reply.body, 'rd')).toBe('https://app.example.com/admin/users?page=2');
    },
  );

  it('names every group that would open the page', async () => {
    const reply = await check('/auth/traefik', '/ops/x');
    expect(reply.body).toContain(
      'members of the groups <strong>ops</strong> or <strong>sre</strong>',
    );
  });

  it.each([
    ['an e-mail rule', '/staff/x'],
    ['policy deny', '/closed/x'],
  ])('says nothing of the rule for %s', async (_name, uri) => {
    const reply = await check('/auth/traefik', uri);
    expectNamedPage(reply, base);
    expect(reply.body).not.toContain('group');
    expect(reply.body).not.toContain('staff.example.com');
    expect(reply.body).toContain('Ask an administrator for access');
  });

  it('answers a HEAD (the request asked about, or the check itself) with no body', async () => {
    const asked = await check('/auth/traefik', '/admin/x', { method: 'HEAD' });
    expect(asked.status).toBe(403);
    expect(asked.body).toBe('');
    const head = await send(app.url, '/auth/traefik', {
      method: 'HEAD',
      headers: [
        ['X-Forwarded-Method', 'GET'],
        ['X-Forwarded-Host', 'app.example.com'],
        ['X-Forwarded-Uri', '/admin/x'],
        ['Cookie', `portcullis_session=${ann}`],
      ],
    });
    expect(head.status).toBe(403);
    expect(head.body).toBe('');
  });

  it('answers a JSON client with JSON and its own address', async () => {
    const reply = await check('/auth/traefik', '/admin/x', { accept: 'application/json' });
    expect(reply.status).toBe(403);
    expect(JSON.parse(reply.body)).toEqual({
      error: 'forbidden',
      message: 'You are signed in, but this account may not open this page.',
      user: 'ann@example.com',
    });
  });

  it('escapes what it shows of the URL', async () => {
    const reply = await check('/auth/traefik', '/admin/%22%3E%3Cscript%3Ex');
    expect(reply.status).toBe(403);
    expect(reply.body).not.toContain('<script');
  });
});

describe('reverse-proxy mode 403', () => {
  let app: TestApp;
  let upstream: EchoUpstream;
  let ann = '';

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: 'http://127.0.0.1:1' },
      proxy: { upstream: upstream.url },
      access: { default_policy: 'authenticated', rules: RULES },
    });
    ann = await app.login('ann@example.com');
  });
  afterAll(async () => {
    await app.close();
    await upstream.close();
  });

  // The Host people reach the proxy by (public_url's): the page shows URLs of that host only.
  const annHeaders = (accept = HTML): [string, string][] => [
    ['Host', '127.0.0.1:1'],
    ['Cookie', `portcullis_session=${ann}`],
    ['Accept', accept],
  ];

  it('shows the named page and never reaches the app', async () => {
    const before = upstream.requests.length;
    const reply = await send(app.url, '/admin/panel', { headers: annHeaders() });
    expectNamedPage(reply, 'http://127.0.0.1:1/auth');
    expect(reply.body).toContain('members of the group <strong>admins</strong>');
    expect(field(reply.body, 'rd')).toBe('http://127.0.0.1:1/admin/panel');
    expect(upstream.requests.length).toBe(before);
  });

  it('HEAD: 403 without a body; JSON client: JSON', async () => {
    const head = await send(app.url, '/admin/panel', { method: 'HEAD', headers: annHeaders() });
    expect(head.status).toBe(403);
    expect(head.body).toBe('');
    const json = await send(app.url, '/admin/panel', {
      headers: annHeaders('application/json'),
    });
    expect(json.status).toBe(403);
    expect(JSON.parse(json.body)).toMatchObject({ error: 'forbidden', user: 'ann@example.com' });
  });
});

// The deployment open-redirects.txt is written against (see its header).
describe('GET /auth/forbidden and the "sign in as someone else" rd', () => {
  let app: TestApp;
  let ann = '';
  const base = 'https://auth.example.com/auth';
  const hostile = readCorpus(new URL('../fixtures/open-redirects.txt', import.meta.url));

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: 'https://auth.example.com' },
      session: { cookie_domain: '.example.com' },
      access: {
        rules: [
          { host: 'app.internal.test', path: '/api/health', policy: 'bypass' },
          { host: ['wiki.corp.test', 'docs.corp.test'], groups: ['staff'] },
          { host: '*.apps.test', emails: ['*@example.com'] },
        ],
      },
    });
    ann = await app.login('ann@example.com');
  });
  afterAll(async () => {
    await app.close();
  });

  function forbidden(rd: string | null, cookie: string | null, accept = HTML) {
    const headers: [string, string][] = [['Accept', accept]];
    if (cookie !== null) headers.push(['Cookie', `portcullis_session=${cookie}`]);
    const query = rd === null ? '' : `?rd=${encodeURIComponent(rd)}`;
    return send(app.url, `/auth/forbidden${query}`, { headers });
  }

  it('renders the named page for the URL nginx names, with the group it needs', async () => {
    const reply = await forbidden('https://wiki.corp.test/page?a=1&b=2', ann);
    expectNamedPage(reply, base);
    expect(field(reply.body, 'rd')).toBe('https://wiki.corp.test/page?a=1&b=2');
    expect(reply.body).toContain('members of the group <strong>staff</strong>');
  });

  it('reads the URL from X-Original-URL when a trusted proxy sends it', async () => {
    const reply = await send(app.url, '/auth/forbidden', {
      headers: [
        ['Accept', HTML],
        ['Cookie', `portcullis_session=${ann}`],
        ['X-Original-URL', 'https://docs.corp.test/x'],
      ],
    });
    expectNamedPage(reply, base);
    expect(field(reply.body, 'rd')).toBe('https://docs.corp.test/x');
  });

  it('without a session: a plain "not allowed" page with a sign-in link', async () => {
    const reply = await forbidden('https://wiki.corp.test/page', null);
    expect(reply.status).toBe(403);
    expect(reply.body).toContain('You are not allowed to open this page');
    expect(reply.body).toContain(
      `href="${base}/login?rd=${encodeURIComponent('https://wiki.corp.test/page')}"`,
    );
    expect(reply.body).not.toContain('<form');
    expect(reply.body).not.toContain('signed in as');
  });

  it('HEAD gets no body; a JSON client gets JSON', async () => {
    const head = await send(app.url, '/auth/forbidden', {
      method: 'HEAD',
      headers: [['Cookie', `portcullis_session=${ann}`]],
    });
    expect(head.status).toBe(403);
    expect(head.body).toBe('');
    const json = await forbidden(null, ann, 'application/json');
    expect(JSON.parse(json.body)).toMatchObject({ error: 'forbidden', user: 'ann@example.com' });
    const anonymous = await forbidden(null, null, 'application/json');
    expect(JSON.parse(anonymous.body)).toEqual({
      error: 'forbidden',
      message: 'You are not allowed to open this page.',
    });
  });

  it('the corpus is there', () => {
    expect(hostile.length).toBeGreaterThanOrEqual(80);
  });

  it.each(hostile)(
    'line $line never reaches the page or the way back: $source',
    async ({ value }) => {
      const page = await forbidden(value, ann);
      expect(page.status).toBe(403);
      expect(field(page.body, 'rd')).toBeNull();
      expect(page.body).not.toContain('<code>');
      expect(page.body).toContain('You are signed in as');
      const plain = await forbidden(value, null);
      expect(plain.body).toContain(`href="${base}/login"`);

      // A forged "sign in as someone else" form: the way back is `/`, never the value. (No
      // cookie: the session stays for the next line; the redirect is the same either way.)
      const out = await send(app.url, '/auth/logout', {
        method: 'POST',
        headers: [['Content-Type', 'application/x-www-form-urlencoded']],
        body: new URLSearchParams({ rd: value }).toString(),
      });
      expect(out.status).toBe(303);
      expect(out.headers.location).toBe('/auth/login?info=signed_out&rd=%2F');
    },
  );
});
