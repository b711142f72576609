import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { echoed, HTML, type Reply, send } from '../helpers/proxy-scenarios.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

/**
 * Issue 15: behind nginx a signed-in person the rules refuse used to get nginx's stock 403 page.
 * Every shipped nginx example now serves portcullis' page (`error_page 403 = @portcullis_403`):
 * real nginx, real portcullis, the example files as shipped (only addresses replaced).
 */

function example(name: string): string {
  return readFileSync(new URL(`../../examples/nginx/${name}`, import.meta.url), 'utf8');
}

function replaceAll(text: string, from: string, to: string, times: number): string {
  const count = text.split(from).length - 1;
  if (count !== times)
    throw new Error(`example changed: expected ${times} × "${from}", found ${count}`);
  return text.split(from).join(to);
}

function field(body: string, name: string): string | null {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(body);
  return match ? (match[1] as string).replace(/&amp;/g, '&') : null;
}

interface Layout {
  name: string;
  file: string;
  listens: number;
  /** The Host a browser sends for the app; null: 127.0.0.1:port. */
  appHost: (port: number) => string | null;
  config: (port: number) => Record<string, unknown>;
}

const ADMIN_RULE = { path: '/admin/**', groups: ['admins'] };

const LAYOUTS: Layout[] = [
  {
    name: 'portcullis.conf',
    file: 'portcullis.conf',
    listens: 1,
    appHost: () => null,
    config: (port) => ({
      server: { public_url: `http://127.0.0.1:${port}` },
      access: { default_policy: 'authenticated', rules: [ADMIN_RULE] },
    }),
  },
  {
    name: 'portcullis-subdomain.conf',
    file: 'portcullis-subdomain.conf',
    listens: 2,
    appHost: (port) => `app.example.com:${port}`,
    config: (port) => ({
      server: { public_url: `http://auth.example.com:${port}` },
      session: { cookie_domain: '.example.com' },
      access: { default_policy: 'authenticated', rules: [ADMIN_RULE] },
    }),
  },
  {
    name: 'oauth2-proxy-migration.conf',
    file: 'oauth2-proxy-migration.conf',
    listens: 1,
    appHost: () => null,
    config: (port) => ({
      server: { public_url: `http://127.0.0.1:${port}` },
      access: { default_policy: 'authenticated', rules: [ADMIN_RULE] },
    }),
  },
];

describe.each(LAYOUTS)('nginx 403 page with examples/nginx/$name', (layout) => {
  let nginx: NginxServer | undefined;
  let app: TestApp | undefined;
  let upstream: EchoUpstream | undefined;
  let port = 0;
  let ann = '';
  let local = '';
  let pageBase = '';

  const host = (): [string, string][] => {
    const name = layout.appHost(port);
    return name === null ? [] : [['Host', name]];
  };
  const appOrigin = () => `http://${layout.appHost(port) ?? `127.0.0.1:${port}`}`;
  const annHeaders = (accept = HTML): [string, string][] => [
    ...host(),
    ['Cookie', `portcullis_session=${ann}`],
    ['Accept', accept],
  ];

  beforeAll(async () => {
    port = await freePort();
    local = `http://127.0.0.1:${port}`;
    upstream = await startEchoUpstream();
    const config = layout.config(port);
    app = await startTestApp(config);
    pageBase = `${(config.server as { public_url: string }).public_url}/auth`;
    let conf = example(layout.file);
    conf = replaceAll(
      conf,
      'server 127.0.0.1:4180;',
      `server 127.0.0.1:${new URL(app.url).port};`,
      1,
    );
    conf = replaceAll(conf, 'server 127.0.0.1:8080;', `server 127.0.0.1:${upstream.port};`, 1);
    conf = replaceAll(conf, 'listen 80;', `listen 127.0.0.1:${port};`, layout.listens);
    nginx = await startNginx(conf, [port]);
    ann = await app.login('ann@example.com');
  });

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await upstream?.close();
  });

  function expectOurPage(reply: Reply, refused: string): void {
    expect(reply.status, nginx?.errorLog()).toBe(403);
    expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(reply.headers['x-echo-upstream']).toBeUndefined();
    expect(reply.body).not.toContain('<center>nginx');
    expect(reply.body).toContain(
      'You are signed in as<br><strong class="address">ann@example.com</strong>',
    );
    expect(reply.body).toContain('This account may not open');
    expect(reply.body).toContain('members of the group <strong>admins</strong>');
    // Both forms post to portcullis' own logout, with the token that route checks.
    const forms = reply.body.match(/<form method="post" action="([^"]+)">/g) ?? [];
    expect(forms).toEqual([
      `<form method="post" action="${pageBase}/logout">`,
      `<form method="post" action="${pageBase}/logout">`,
    ]);
    expect(field(reply.body, 'csrf')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(field(reply.body, 'rd')).toBe(refused);
    expect(reply.body).toContain('Sign in as someone else');
    expect(reply.body).toContain(`href="${pageBase}/account"`);
    expect(reply.headers['content-security-policy']).toContain("style-src 'self'");
  }

  it('shows a refused person our page naming them, with status 403', async () => {
    const reply = await send(local, '/admin/settings?tab=users&x=1', { headers: annHeaders() });
    expectOurPage(reply, `${appOrigin()}/admin/settings?tab=users&x=1`);
  });

  it('shows the page for a refused POST too, without passing the body on', async () => {
    const reply = await send(local, '/admin/save', {
      method: 'POST',
      headers: [...annHeaders(), ['Content-Type', 'application/x-www-form-urlencoded']],
      body: 'a=1',
    });
    expectOurPage(reply, `${appOrigin()}/admin/save`);
  });

  it('answers a HEAD with 403 and no body', async () => {
    const reply = await send(local, '/admin/settings', { method: 'HEAD', headers: annHeaders() });
    expect(reply.status).toBe(403);
    expect(reply.body).toBe('');
  });

  it('answers a JSON client with JSON naming its own account', async () => {
    const reply = await send(local, '/admin/api', { headers: annHeaders('application/json') });
    expect(reply.status).toBe(403);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(reply.body)).toEqual({
      error: 'forbidden',
      message: 'You are signed in, but this account may not open this page.',
      user: 'ann@example.com',
    });
  });

  it('still sends a person without a session to the login page (401 handling)', async () => {
    const reply = await send(local, '/admin/settings', { headers: [...host(), ['Accept', HTML]] });
    expect(reply.status).toBe(302);
    expect(String(reply.headers.location)).toContain('/auth/login?rd=');
  });

  it('lets a member of the group in', async () => {
    const context = app as TestApp;
    const carol = await context.ctx.users.findOrCreate('carol@example.com');
    await context.ctx.store.updateUser({ ...carol, groups: ['admins'] });
    const cookie = await context.login('carol@example.com');
    const seen = echoed(
      await send(local, '/admin/settings', {
        headers: [...host(), ['Cookie', `portcullis_session=${cookie}`], ['Accept', HTML]],
      }),
    );
    expect(seen.url).toBe('/admin/settings');
  });

  it('"Sign in as someone else" ends the session and leads to the login page, back to the page', async () => {
    const context = app as TestApp;
    const cookie = await context.login('dave@example.com');
    const headers: [string, string][] = [
      ...host(),
      ['Cookie', `portcullis_session=${cookie}`],
      ['Accept', HTML],
    ];
    const page = await send(local, '/admin/x?y=1', { headers });
    expect(page.status).toBe(403);
    const csrf = field(page.body, 'csrf') as string;
    const rd = field(page.body, 'rd') as string;
    // What a browser sends from our page (Referrer-Policy: no-referrer makes Origin null).
    const logoutHost = new URL(pageBase).host;
    const out = await send(local, '/auth/logout', {
      method: 'POST',
      headers: [
        ['Host', logoutHost],
        ['Cookie', `portcullis_session=${cookie}`],
        ['Origin', 'null'],
        ['Sec-Fetch-Site', layout.appHost(port) === null ? 'same-origin' : 'same-site'],
        ['Content-Type', 'application/x-www-form-urlencoded'],
      ],
      body: new URLSearchParams({ csrf, rd }).toString(),
    });
    expect(out.status).toBe(303);
    expect(out.headers.location).toBe(
      `/auth/login?info=signed_out&rd=${encodeURIComponent(`${appOrigin()}/admin/x?y=1`)}`,
    );
    const after = await send(local, '/admin/x?y=1', { headers });
    expect(after.status).toBe(302);
  });
});
