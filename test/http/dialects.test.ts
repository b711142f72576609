import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  allowedParametersTable,
  CLIENT_HEADERS,
  DIALECTS,
  describeTarget,
  IDENTITY_HEADERS,
  noPeople,
  PUBLIC_URL,
  scenarioTable,
  seedPeople,
  seenInReply,
  TABLE_CONFIG,
  verifyByUriTable,
} from '../helpers/dialect-cases.js';
import { send } from '../helpers/proxy-scenarios.js';

/**
 * One scenario table, run against every check endpoint (SPEC §3), over real sockets. Each
 * dialect says how the proxy describes the original request and how the answer is worded; the
 * decisions are the same. The table and its expectations are test/helpers/dialect-cases.ts,
 * also run in-process by test/unit/check-pipeline.test.ts; HEAD bodies, the compatibility
 * header names and the trusted-proxy gate are checked here only.
 */

describe('forward-auth dialects: one scenario table', () => {
  let app: TestApp;
  const people = noPeople();
  const cookies = people.cookies;

  beforeAll(async () => {
    app = await startTestApp(TABLE_CONFIG);
    await seedPeople(people, { users: app.ctx.users, store: app.ctx.store, login: app.login });
  });

  afterAll(async () => {
    await app.close();
  });

  /** A check as node's HTTP client sends it (it adds Host unless one is given). */
  const check = async (path: string, headers: [string, string][]) =>
    seenInReply(await send(app.url, path, { headers }));

  scenarioTable(people, check);

  describe('HEAD checks carry no body', () => {
    /** Raw bytes, so a body the HTTP client would hide for HEAD is still seen. */
    function rawHead(path: string, headers: [string, string][]): Promise<string> {
      const { port } = new URL(app.url);
      return new Promise((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1');
        let data = '';
        socket.on('data', (chunk: Buffer) => {
          data += chunk.toString('latin1');
        });
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
        const lines = [`HEAD ${path} HTTP/1.1`, 'Connection: close'];
        if (!headers.some(([name]) => name === 'Host')) lines.push('Host: portcullis');
        for (const [name, value] of headers) lines.push(`${name}: ${value}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
    }

    for (const dialect of DIALECTS) {
      for (const client of ['fetch', 'navigation'] as const) {
        it(`${dialect.path} (${dialect.encoding}), ${client} without a session`, async () => {
          const raw = await rawHead(dialect.path, [
            ...describeTarget(dialect.encoding, 'GET', '/notes'),
            ...CLIENT_HEADERS[client],
          ]);
          const end = raw.indexOf('\r\n\r\n');
          expect(end).toBeGreaterThan(0);
          expect(raw).toMatch(/^HTTP\/1\.1 (302|401) /);
          expect(raw.slice(end + 4)).toBe('');
        });
      }
      it(`${dialect.path} (${dialect.encoding}), denied`, async () => {
        const raw = await rawHead(dialect.path, [
          ...describeTarget(dialect.encoding, 'GET', '/blocked/x'),
          ['Cookie', `portcullis_session=${cookies.get('alice')}`],
        ]);
        expect(raw).toMatch(/^HTTP\/1\.1 403 /);
        expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe('');
      });
    }
  });

  describe('HEAD asked about, GET asking', () => {
    // Traefik asks with GET and names the original method in X-Forwarded-Method.
    for (const dialect of DIALECTS) {
      it(`${dialect.path} (${dialect.encoding}), denied HEAD: 403 without a body`, async () => {
        const reply = await send(app.url, dialect.path, {
          headers: [
            ...describeTarget(dialect.encoding, 'HEAD', '/blocked/x'),
            ...CLIENT_HEADERS.navigation,
            ['Cookie', `portcullis_session=${cookies.get('alice')}`],
          ],
        });
        expect(reply.status).toBe(403);
        expect(reply.headers['content-length']).toBe('0');
        expect(reply.body).toBe('');
      });
    }
  });

  verifyByUriTable(people, check, true);
  allowedParametersTable(people, check, true);
});

describe("compatibility paths keep their tools' header names when `headers:` is changed", () => {
  let app: TestApp;
  let cookie: string;

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: PUBLIC_URL },
      headers: { user: ['X-User'], email: ['X-Email'], name: [], groups: ['remote-groups'] },
    });
    cookie = await app.login('alice@example.com');
  });

  afterAll(async () => {
    await app.close();
  });

  const ask = (path: string) =>
    send(app.url, path, {
      headers: [
        ...describeTarget(path === '/oauth2/auth' ? 'oauth2' : 'original', 'GET', '/notes'),
        ['Cookie', `portcullis_session=${cookie}`],
      ],
    });

  it('/auth/nginx sends exactly the configured names', async () => {
    const reply = await ask('/auth/nginx');
    expect(reply.status).toBe(200);
    expect(reply.headers['x-user']).toBeDefined();
    expect(reply.headers['x-email']).toBe('alice@example.com');
    expect(reply.headers['remote-groups']).toBe('');
    expect(IDENTITY_HEADERS.filter((name) => reply.headers[name] !== undefined)).toEqual([
      'remote-groups',
    ]);
  });

  it("/oauth2/auth adds oauth2-proxy's X-Auth-Request-* names", async () => {
    const reply = await ask('/oauth2/auth');
    expect(reply.status).toBe(202);
    expect(reply.headers['x-user']).toBe(reply.headers['x-auth-request-user']);
    expect(reply.headers['x-auth-request-email']).toBe('alice@example.com');
    expect(reply.headers['x-auth-request-groups']).toBe('');
    expect(reply.headers['x-auth-request-preferred-username']).toBe('alice');
  });

  for (const path of ['/api/authz/auth-request', '/api/verify']) {
    it(`${path} adds Authelia's Remote-* names (once each)`, async () => {
      const reply = await ask(path);
      expect(reply.status).toBe(200);
      expect(reply.headers['x-email']).toBe('alice@example.com');
      expect(reply.headers['remote-email']).toBe('alice@example.com');
      expect(reply.headers['remote-user']).toBe(reply.headers['x-user']);
      expect(reply.headers['remote-name']).toBe('alice');
      expect(reply.headers['remote-groups']).toBe('');
    });
  }
});

describe('forward-auth dialects from an untrusted address', () => {
  let app: TestApp;
  let cookie: string;

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: PUBLIC_URL, trusted_proxies: ['10.0.0.0/8'] },
    });
    cookie = await app.login('alice@example.com');
  });

  afterAll(async () => {
    await app.close();
  });

  for (const dialect of DIALECTS) {
    it(`${dialect.path} (${dialect.encoding}) ignores the forwarded headers and answers 400`, async () => {
      const reply = await send(app.url, dialect.path, {
        headers: [
          ...describeTarget(dialect.encoding, 'GET', '/notes'),
          ['Cookie', `portcullis_session=${cookie}`],
        ],
      });
      expect(reply.status).toBe(400);
      expect(IDENTITY_HEADERS.filter((name) => reply.headers[name] !== undefined)).toEqual([]);
      expect(reply.headers['content-type']).toMatch(/^text\/html/);
      expect(reply.body).toContain('trusted_proxies');
    });
  }

  it('says the same 400 as JSON to an API client', async () => {
    const reply = await send(app.url, '/auth/traefik', {
      headers: [...describeTarget('forwarded', 'GET', '/notes'), ['Accept', 'application/json']],
    });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'bad_request' });
  });
});
