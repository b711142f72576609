import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCorpus } from '../fixtures/read-corpus.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { rawGetStatus } from '../helpers/raw-request.js';

/**
 * Path encodings (issue 10, item 3), from test/fixtures/path-encodings.txt: encoded whitespace
 * and control characters, overlong UTF-8, dot segments, encoded separators and case tricks are
 * never a way out of a deny rule nor into a bypass, through a check endpoint (nginx's
 * X-Original-URL, Traefik's X-Forwarded-Uri) or through the reverse proxy, where the app must
 * not even see them. The controls show that the same rules do let the plain paths through.
 */

const HOST = 'app.example.test';
const RULES = [
  { host: HOST, path: '/public/**', policy: 'bypass' },
  { host: HOST, path: '/admin/**', policy: 'deny' },
  { host: HOST, path: '/admin', policy: 'deny' },
];

const corpus = readCorpus(new URL('../fixtures/path-encodings.txt', import.meta.url)).map(
  ({ line, value }) => {
    const [section, path] = value.split('\t') as [string, string];
    return { line, section, path };
  },
);
const denyEscapes = corpus.filter((c) => c.section === 'deny-escape');
const bypassAbuse = corpus.filter((c) => c.section === 'bypass-abuse');

/** One GET on its own connection; the request line and headers exactly as given. */
function raw(port: number, target: string, headers: [string, string][]): Promise<number> {
  return rawGetStatus(port, target, [['Accept', 'application/json'], ...headers]);
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

describe('path encodings through the check endpoints', () => {
  let app: TestApp;
  let port: number;
  let cookie: string;

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: 'https://auth.example.test' },
      access: { rules: RULES },
    });
    port = Number(new URL(app.url).port);
    cookie = `portcullis_session=${await app.login('alice@example.test')}`;
  });

  afterAll(async () => {
    await app.close();
  });

  const asks: [string, (path: string) => [string, [string, string][]]][] = [
    [
      '/auth/nginx',
      (path) => [
        '/auth/nginx',
        [
          ['Host', 'portcullis'],
          ['X-Original-URL', `https://${HOST}${path}`],
          ['X-Original-Method', 'GET'],
        ],
      ],
    ],
    [
      '/auth/traefik',
      (path) => [
        '/auth/traefik',
        [
          ['Host', 'portcullis'],
          ['X-Forwarded-Method', 'GET'],
          ['X-Forwarded-Proto', 'https'],
          ['X-Forwarded-Host', HOST],
          ['X-Forwarded-Uri', path],
        ],
      ],
    ],
  ];

  for (const [name, ask] of asks) {
    it(`${name}: controls — plain paths get the rules' answers`, async () => {
      const check = (path: string, headers: [string, string][] = []) => {
        const [target, base] = ask(path);
        return raw(port, target, [...base, ...headers]);
      };
      expect(await check('/public/file%20name.txt')).toBe(200);
      expect(await check('/public/x')).toBe(200);
      expect(await check('/notes', [['Cookie', cookie]])).toBe(200);
      expect(await check('/notes%20list', [['Cookie', cookie]])).toBe(200);
      expect(await check('/admin/x', [['Cookie', cookie]])).toBe(403);
      expect(isSuccess(await check('/notes'))).toBe(false);
    });

    it(`${name}: no encoding escapes a deny rule (${denyEscapes.length} paths)`, async () => {
      for (const { line, path } of denyEscapes) {
        const [target, base] = ask(path);
        const status = await raw(port, target, [...base, ['Cookie', cookie]]);
        expect([400, 403], `line ${line}: ${path}`).toContain(status);
      }
    });

    it(`${name}: no encoding rides a bypass rule (${bypassAbuse.length} paths)`, async () => {
      for (const { line, path } of bypassAbuse) {
        const [target, base] = ask(path);
        const status = await raw(port, target, base);
        expect(isSuccess(status), `line ${line}: ${path} → ${status}`).toBe(false);
        expect(status, `line ${line}: ${path}`).not.toBe(500);
      }
    });
  }
});

describe('path encodings through the reverse proxy', () => {
  let app: TestApp;
  let upstream: EchoUpstream;
  let port: number;
  let cookie: string;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: 'https://auth.example.test' },
      access: { rules: RULES },
      proxy: { upstream: upstream.url },
    });
    port = Number(new URL(app.url).port);
    cookie = `portcullis_session=${await app.login('alice@example.test')}`;
  });

  afterAll(async () => {
    await app.close();
    await upstream.close();
  });

  const get = (path: string, headers: [string, string][] = []) =>
    raw(port, path, [['Host', HOST], ...headers]);

  it('controls — plain paths reach the app where the rules allow', async () => {
    expect(await get('/public/file%20name.txt')).toBe(200);
    expect(await get('/notes', [['Cookie', cookie]])).toBe(200);
    expect(await get('/admin/x', [['Cookie', cookie]])).toBe(403);
    expect(isSuccess(await get('/notes'))).toBe(false);
  });

  it(`no encoding escapes a deny rule, and the app never sees one (${denyEscapes.length} paths)`, async () => {
    for (const { line, path } of denyEscapes) {
      const before = upstream.requests.length;
      const status = await get(path, [['Cookie', cookie]]);
      expect([400, 403], `line ${line}: ${path}`).toContain(status);
      expect(upstream.requests.slice(before), `line ${line}: ${path}`).toEqual([]);
    }
  });

  it(`no encoding rides a bypass rule, and the app never sees one (${bypassAbuse.length} paths)`, async () => {
    for (const { line, path } of bypassAbuse) {
      const before = upstream.requests.length;
      const status = await get(path);
      expect(isSuccess(status), `line ${line}: ${path} → ${status}`).toBe(false);
      expect(upstream.requests.slice(before), `line ${line}: ${path}`).toEqual([]);
    }
  });
});
