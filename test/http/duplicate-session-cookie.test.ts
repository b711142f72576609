import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { headerOf, rawRequest } from '../helpers/raw-request.js';
import { type EchoUpstream, rawValues, startEchoUpstream } from '../helpers/upstream.js';

/**
 * Cookie tossing against the session cookie: a sibling subdomain can plant a cookie of our name
 * beside ours, in the same Cookie header or (HTTP/2, or proxies that do not merge) in another.
 * Whichever one a reader picks, the planter controls the order, so more than one is no session:
 * every check answers as for a signed-out client, never as the first or the last one.
 */
interface Case {
  why: string;
  cookies: string[];
  expect: 'none' | 'alice';
}

const CASES = (
  JSON.parse(
    readFileSync(new URL('../fixtures/duplicate-session-cookies.json', import.meta.url), 'utf8'),
  ) as { cases: Case[] }
).cases;

const sessions = { A: '', B: '', G: 'garbage.not-a.jwt' };

function cookieHeaders(cookies: string[]): [string, string][] {
  return cookies.map((value) => [
    'Cookie',
    value.replace(/\{([ABG])\}/g, (_, key: 'A' | 'B' | 'G') => sessions[key]),
  ]);
}

describe('more than one session cookie, forward-auth mode', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: 'https://auth.example.test' },
      session: { cookie_domain: '.example.test' },
      admin: { emails: ['alice@example.test', 'bob@example.test'] },
    });
    sessions.A = await app.login('alice@example.test');
    sessions.B = await app.login('bob@example.test');
  });
  afterAll(async () => {
    await app?.close();
  });

  it.each(CASES)('/auth/nginx: $why → $expect', async ({ cookies, expect: who }) => {
    const reply = await rawRequest(app.url, 'GET', '/auth/nginx', [
      ['X-Original-URL', 'https://app.example.test/notes'],
      ['X-Original-Method', 'GET'],
      ...cookieHeaders(cookies),
    ]);
    if (who === 'none') {
      expect(reply.status).toBe(401);
      expect(headerOf(reply, 'location')).toContain('/auth/login?rd=');
      expect(headerOf(reply, 'remote-email')).toBeUndefined();
    } else {
      expect(reply.status).toBe(200);
      expect(headerOf(reply, 'remote-email')).toBe('alice@example.test');
    }
  });

  it.each(CASES)(
    '/auth/me and the admin panel: $why → $expect',
    async ({ cookies, expect: who }) => {
      const me = await rawRequest(app.url, 'GET', '/auth/me', [
        ['Accept', 'application/json'],
        ...cookieHeaders(cookies),
      ]);
      const admin = await rawRequest(app.url, 'GET', '/auth/admin', cookieHeaders(cookies));
      if (who === 'none') {
        expect(me.status).toBe(401);
        expect(admin.status).toBe(303);
        expect(headerOf(admin, 'location')).toContain('/auth/login');
      } else {
        expect(me.status).toBe(200);
        expect(me.body).toContain('"email":"alice@example.test"');
        expect(admin.status).toBe(200);
      }
    },
  );
});

describe('more than one session cookie, reverse-proxy mode', () => {
  let upstream: EchoUpstream;
  let app: TestApp;
  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: 'http://app.test' },
      proxy: { upstream: upstream.url, timeout: '1s' },
    });
    sessions.A = await app.login('alice@example.test');
    sessions.B = await app.login('bob@example.test');
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  it.each(CASES)('GET /notes: $why → $expect', async ({ why, cookies, expect: who }) => {
    const path = `/notes/${encodeURIComponent(why)}`;
    const reply = await rawRequest(app.url, 'GET', path, [
      ['Host', 'app.test'],
      ['Accept', 'application/json'],
      ...cookieHeaders(cookies),
    ]);
    const reached = upstream.requests.filter((r) => r.url === path);
    if (who === 'none') {
      expect(reply.status).toBe(401);
      expect(reached).toHaveLength(0);
    } else {
      expect(reply.status).toBe(200);
      expect(reached).toHaveLength(1);
      expect(rawValues(reached[0] as (typeof reached)[number], 'Remote-Email')).toEqual([
        'alice@example.test',
      ]);
    }
  });
});
