import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  forgedHeaders,
  forgedSeen,
  identityHeadersSeen,
  identitySpellingFamilies,
  sendRaw,
} from '../fixtures/identity-spellings.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoedRequest, type EchoUpstream, startEchoUpstream } from '../helpers/upstream.js';

/**
 * Reverse-proxy mode: every spelling of every identity header family, sent by an untrusted client
 * and by a trusted proxy (which passes its own clients' headers on), never reaches the app; the
 * app gets exactly the identity headers portcullis sets.
 */
const FAMILIES = identitySpellingFamilies();
/** Connections from this address come from `server.trusted_proxies`; 127.0.0.1 does not. */
const TRUSTED_PEER = '127.0.0.2';
const PEERS = [
  { peer: 'an untrusted client', localAddress: '127.0.0.1' },
  { peer: 'a trusted proxy', localAddress: TRUSTED_PEER },
];

function echoed(reply: { status: number; body: string }): EchoedRequest {
  expect(reply.status, reply.body).toBe(200);
  return JSON.parse(reply.body) as EchoedRequest;
}

describe('reverse proxy: identity headers in every spelling', () => {
  let upstream: EchoUpstream;
  let app: TestApp;
  let cookie: string;
  let userId: string;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: 'http://app.test', trusted_proxies: [`${TRUSTED_PEER}/32`] },
      proxy: { upstream: upstream.url, timeout: '2s' },
      access: { rules: [{ path: '/public/**', policy: 'bypass' }] },
    });
    cookie = await app.login('alice@example.com');
    // What the user headers carry: the username (headers.user_value's default).
    userId = (await app.ctx.store.getUserByEmail('alice@example.com'))?.username ?? '';
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  it('reads a spelling table with every family', () => {
    expect(FAMILIES.map((f) => f.name)).toEqual([
      'Remote-User',
      'Remote-Email',
      'Remote-Name',
      'Remote-Groups',
      'X-Auth-Request-User',
      'X-Auth-Request-Email',
      'X-Auth-Request-Groups',
      'X-Auth-Request-Preferred-Username',
      'X-Forwarded-User',
      'X-Forwarded-Email',
      'X-Forwarded-Groups',
      'X-Forwarded-Preferred-Username',
      'GAP-Auth',
    ]);
    for (const family of FAMILIES) expect(family.spellings.length).toBeGreaterThanOrEqual(12);
  });

  for (const { peer, localAddress } of PEERS) {
    for (const family of FAMILIES) {
      it(`drops every spelling of ${family.name} from ${peer}, signed in`, async () => {
        const seen = echoed(
          await sendRaw(
            app.url,
            '/private',
            [
              'Host',
              'app.test',
              'Cookie',
              `portcullis_session=${cookie}`,
              ...forgedHeaders(family.spellings),
            ],
            { localAddress },
          ),
        );
        expect(forgedSeen(seen.rawHeaders)).toEqual([]);
        // Exactly the headers `headers:` names (the defaults), each once, with the real values.
        expect(identityHeadersSeen(seen.rawHeaders)).toEqual([
          `Remote-User: ${userId}`,
          `X-Auth-Request-User: ${userId}`,
          'Remote-Email: alice@example.com',
          'X-Auth-Request-Email: alice@example.com',
          'Remote-Name: alice',
          'Remote-Groups: ',
          'X-Auth-Request-Groups: ',
        ]);
      });

      it(`drops every spelling of ${family.name} from ${peer} on a bypass path`, async () => {
        const seen = echoed(
          await sendRaw(
            app.url,
            '/public/x',
            ['Host', 'app.test', ...forgedHeaders(family.spellings)],
            { localAddress },
          ),
        );
        expect(identityHeadersSeen(seen.rawHeaders)).toEqual([]);
      });
    }
  }

  it('still passes other headers with `_` and `.` in their names on', async () => {
    const seen = echoed(
      await sendRaw(app.url, '/public/x', ['Host', 'app.test', 'X_Request_Id', '1', 'A.B', '2']),
    );
    expect(seen.rawHeaders).toEqual(expect.arrayContaining(['X_Request_Id', '1', 'A.B', '2']));
  });
});
