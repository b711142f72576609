import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  duplicateCases,
  duplicateSessionCookieTable,
  socketClient,
} from '../helpers/login-table-cases.js';
import { rawRequest } from '../helpers/raw-request.js';
import { type EchoUpstream, rawValues, startEchoUpstream } from '../helpers/upstream.js';

/**
 * Cookie tossing against the session cookie: a sibling subdomain can plant a cookie of our name
 * beside ours, in the same Cookie header or (HTTP/2, or proxies that do not merge) in another.
 * Whichever one a reader picks, the planter controls the order, so more than one is no session:
 * every check answers as for a signed-out client, never as the first or the last one.
 */
const CASES = duplicateCases;

const sessions = { A: '', B: '', G: 'garbage.not-a.jwt' };

function cookieHeaders(cookies: string[]): [string, string][] {
  return cookies.map((value) => [
    'Cookie',
    value.replace(/\{([ABG])\}/g, (_, key: 'A' | 'B' | 'G') => sessions[key]),
  ]);
}

/** Forward-auth mode, with cookie-headers.json: the shared table over real sockets. */
duplicateSessionCookieTable(socketClient);

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
