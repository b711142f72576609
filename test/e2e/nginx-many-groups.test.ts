import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { echoed, send } from '../helpers/proxy-scenarios.js';
import { type EchoUpstream, rawValues, startEchoUpstream } from '../helpers/upstream.js';

/**
 * Issue 11: nginx reads the check's whole answer into `proxy_buffer_size` (4 KB by default), so
 * a user in ~65 groups got 500 on every request. Every shipped example must carry a user in 200
 * groups of ~20 characters (the groups go out under two names by default: ~8.5 KB).
 */

const GROUPS = Array.from(
  { length: 200 },
  (_, i) => `team-${String(i).padStart(3, '0')}-engineering`,
);

interface ExampleCase {
  file: string;
  /** How many `listen 80;` lines the file has. */
  listens: number;
  /** The Host the browser sends to reach the app, and portcullis' public_url host. */
  appHost: (port: number) => string;
  publicHost: (port: number) => string;
  cookieDomain?: string;
  /** The header the app receives the groups in, if the example passes them on. */
  groupsHeader: string | null;
}

const EXAMPLES: ExampleCase[] = [
  {
    file: 'portcullis.conf',
    listens: 1,
    appHost: (port) => `127.0.0.1:${port}`,
    publicHost: (port) => `127.0.0.1:${port}`,
    groupsHeader: 'Remote-Groups',
  },
  {
    file: 'portcullis-subdomain.conf',
    listens: 2,
    appHost: (port) => `app.example.com:${port}`,
    publicHost: (port) => `auth.example.com:${port}`,
    cookieDomain: '.example.com',
    groupsHeader: 'Remote-Groups',
  },
  {
    file: 'oauth2-proxy-migration.conf',
    listens: 1,
    appHost: (port) => `127.0.0.1:${port}`,
    publicHost: (port) => `127.0.0.1:${port}`,
    groupsHeader: null,
  },
];

function replaceExactly(text: string, from: string, to: string, times: number): string {
  const count = text.split(from).length - 1;
  if (count !== times)
    throw new Error(`example changed: expected ${times} × "${from}", found ${count}`);
  return text.split(from).join(to);
}

describe.each(EXAMPLES)('examples/nginx/$file with a user in 200 groups', (example) => {
  let nginx: NginxServer | undefined;
  let app: TestApp | undefined;
  let upstream: EchoUpstream | undefined;
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: `http://${example.publicHost(port)}` },
      ...(example.cookieDomain ? { session: { cookie_domain: example.cookieDomain } } : {}),
    });
    let conf = readFileSync(
      new URL(`../../examples/nginx/${example.file}`, import.meta.url),
      'utf8',
    );
    conf = replaceExactly(
      conf,
      'server 127.0.0.1:4180;',
      `server 127.0.0.1:${new URL(app.url).port};`,
      1,
    );
    conf = replaceExactly(conf, 'server 127.0.0.1:8080;', `server 127.0.0.1:${upstream.port};`, 1);
    conf = replaceExactly(conf, 'listen 80;', `listen 127.0.0.1:${port};`, example.listens);
    nginx = await startNginx(conf, [port]);
  });

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
    await upstream?.close();
  });

  it('passes the request, with every group, and nginx logs no "too big header"', async () => {
    const a = app as TestApp;
    const user = await a.ctx.users.findOrCreate('many.groups@example.com');
    await a.ctx.store.updateUserGroups(user.id, () => GROUPS);
    const cookie = await a.login('many.groups@example.com');
    const reply = await send(`http://127.0.0.1:${port}`, '/private/page', {
      headers: [
        ['Host', example.appHost(port)],
        ['Cookie', `portcullis_session=${cookie}`],
      ],
    });
    expect(reply.status, `${reply.body}\n${nginx?.errorLog()}`).toBe(200);
    const seen = echoed(reply);
    if (example.groupsHeader) {
      expect(rawValues(seen, example.groupsHeader)).toEqual([GROUPS.join(',')]);
    }
    expect(nginx?.errorLog()).not.toContain('too big header');
  });
});
