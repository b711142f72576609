import { describe, expect, it } from 'vitest';
import { isPortcullisPath } from '../../src/proxy/local-paths.js';
import {
  RequestHeaderPolicy,
  scanRequestHeaders,
  withoutCookie,
} from '../../src/proxy/request-headers.js';
import { clientResponseHeaders, contentLength } from '../../src/proxy/response-headers.js';
import { upstreamFailure } from '../../src/proxy/upstream-failure.js';
import { checkHandshake } from '../../src/proxy/websocket-handshake.js';
import { identitySpellingFamilies } from '../fixtures/identity-spellings.js';

const NAMES = {
  user: ['Remote-User', 'X-Auth-Request-User'],
  email: ['Remote-Email'],
  name: ['Remote-Name'],
  groups: ['Remote-Groups'],
};
const policy = new RequestHeaderPolicy(NAMES, 'portcullis_session');
const names = (headers: string[]) => headers.filter((_, i) => i % 2 === 0);

describe('scanRequestHeaders', () => {
  it.each([
    'Remote-User',
    'remote-user',
    'REMOTE-USER',
    'Remote_User',
    'remote_user',
    'X-Auth-Request-User',
    'x_auth_request_user',
    'Remote-Email',
    'Remote-Groups',
    'Remote-Name',
  ])('drops a client-sent identity header spelled %s', (name) => {
    const scan = scanRequestHeaders(['Host', 'a.test', name, 'admin', 'X-Ok', '1'], policy, true);
    expect(scan.headers).toEqual(['X-Ok', '1']);
  });

  const spellings = identitySpellingFamilies().flatMap((family) => family.spellings);
  it.each([true, false])(
    'drops every spelling in the identity table (trusted peer: %s)',
    (trusted) => {
      const raw = ['Host', 'a.test', 'X-Ok', '1'];
      for (const name of spellings) raw.push(name, 'forged');
      expect(scanRequestHeaders(raw, policy, trusted).headers).toEqual(['X-Ok', '1']);
    },
  );

  it.each([
    'Remote~User',
    'Remote!Groups',
    "x'auth'request'email",
    'X+Auth+Request+User',
    'X-Auth-Request-Access-Token',
    'x_auth_request_anything',
    'Remote-Anything',
    'X.Forwarded.Access.Token',
    'gap|auth',
  ])('drops %s: any token character aliases `-`, and whole families go', (name) => {
    for (const trusted of [true, false]) {
      const scan = scanRequestHeaders(['Host', 'a.test', name, 'x', 'X-Ok', '1'], policy, trusted);
      expect(scan.headers).toEqual(['X-Ok', '1']);
    }
  });

  it('never believes another spelling of a forwarding or framing header, nor passes it on', () => {
    const scan = scanRequestHeaders(
      [
        'Host',
        'a.test',
        'X_Forwarded_Host',
        'evil.test',
        'x.forwarded.proto',
        'https',
        'X_Forwarded_For',
        '203.0.113.9',
        'X_Original_URL',
        'https://evil.test/',
        'Content_Length',
        '5',
        'Transfer.Encoding',
        'xchunked',
        'X_Request_Id',
        'kept',
      ],
      policy,
      true,
    );
    expect(scan).toMatchObject({
      forwardedHost: undefined,
      forwardedProto: undefined,
      forwardedFor: undefined,
      hasBody: false,
      malformed: null,
    });
    expect(scan.headers).toEqual(['X_Request_Id', 'kept']);
  });

  it('classifies past the bound of remembered spellings the same way', () => {
    const busy = new RequestHeaderPolicy(NAMES, 'portcullis_session');
    const raw: string[] = [];
    for (let i = 0; i < 600; i++) raw.push(`X-Filler-${i}`, 'f');
    raw.push('Remote.User', 'forged', 'x_forwarded_email', 'forged');
    const scan = scanRequestHeaders(raw, busy, true);
    expect(scan.headers).toHaveLength(1200);
    expect(scan.headers).not.toContain('forged');
  });

  it.each([
    'Connection',
    'Keep-Alive',
    'Proxy-Connection',
    'TE',
    'Upgrade',
    'Trailer',
    'Expect',
    'Proxy-Authorization',
  ])('drops the hop-by-hop header %s', (name) => {
    const scan = scanRequestHeaders(['Host', 'a.test', name, 'x', 'X-Ok', '1'], policy, false);
    expect(names(scan.headers)).toEqual(['X-Ok']);
  });

  it('drops what Connection names, wherever it appears, but never the framing', () => {
    const scan = scanRequestHeaders(
      [
        'X-Private',
        'p',
        'Connection',
        'keep-alive, X-Private, Content-Length, x_other',
        'Content-Length',
        '3',
        'X-Other',
        'o',
        'Host',
        'a.test',
      ],
      policy,
      true,
    );
    expect(scan.headers).toEqual(['Content-Length', '3']);
    expect(scan.hasBody).toBe(true);
  });

  it('believes X-Forwarded-* only from a trusted peer, and drops other forwarding headers otherwise', () => {
    const raw = [
      'Host',
      'a.test',
      'X-Forwarded-For',
      '203.0.113.9',
      'X-Forwarded-For',
      '198.51.100.1',
      'X-Forwarded-Proto',
      'https, http',
      'X-Forwarded-Host',
      'b.test',
      'Forwarded',
      'for=1.2.3.4',
      'X-Real-IP',
      '1.2.3.4',
    ];
    const trusted = scanRequestHeaders(raw, policy, true);
    expect(trusted).toMatchObject({
      forwardedFor: '203.0.113.9, 198.51.100.1',
      forwardedProto: 'https',
      forwardedHost: 'b.test',
    });
    expect(names(trusted.headers)).toEqual(['Forwarded', 'X-Real-IP']);
    const untrusted = scanRequestHeaders(raw, policy, false);
    expect(untrusted).toMatchObject({
      forwardedFor: undefined,
      forwardedProto: undefined,
      forwardedHost: undefined,
    });
    expect(untrusted.headers).toEqual([]);
  });

  it('reads the session cookie but passes only the app cookies on', () => {
    const scan = scanRequestHeaders(
      ['Cookie', 'a=1; portcullis_session=secret', 'Cookie', 'portcullis_session=other'],
      policy,
      false,
    );
    expect(scan.cookie).toBe('a=1; portcullis_session=secret; portcullis_session=other');
    expect(scan.headers).toEqual(['Cookie', 'a=1']);
  });

  it.each([
    [['Host', 'a', 'Host', 'b'], 'more than one Host header'],
    [['Host', 'a', 'Transfer-Encoding', 'gzip, chunked'], 'unsupported Transfer-Encoding'],
    [['Host', 'a', 'Transfer-Encoding', 'xchunked'], 'unsupported Transfer-Encoding'],
  ])('marks %j as malformed', (raw, reason) => {
    expect(scanRequestHeaders(raw, policy, true).malformed).toBe(reason);
  });

  it.each([
    [['Host', 'a'], false],
    [['Host', 'a', 'Content-Length', '0'], false],
    [['Host', 'a', 'Content-Length', '12'], true],
    [['Host', 'a', 'Transfer-Encoding', 'chunked'], true],
  ])('knows whether %j has a body', (raw, hasBody) => {
    const scan = scanRequestHeaders(raw, policy, true);
    expect(scan.hasBody).toBe(hasBody);
    expect(scan.malformed).toBeNull();
  });
});

describe('withoutCookie', () => {
  it.each([
    ['portcullis_session=abc', ''],
    ['a=1; portcullis_session=abc', 'a=1'],
    ['portcullis_session=abc; a=1', 'a=1'],
    ['a=1; portcullis_session=abc; b=2', 'a=1; b=2'],
    ['a=1;portcullis_session=abc;b=2', 'a=1; b=2'],
    ['portcullis_session=1; portcullis_session=2; c=3', 'c=3'],
    ['a=1; portcullis_session =abc', 'a=1'],
    ['xportcullis_session=1; b=2', 'xportcullis_session=1; b=2'],
    ['a=portcullis_session=1; b=2', 'a=portcullis_session=1; b=2'],
    ['portcullis_sessionx=1', 'portcullis_sessionx=1'],
    ['a=1', 'a=1'],
  ])('%s -> %s', (input, output) => {
    expect(withoutCookie(input, 'portcullis_session')).toBe(output);
  });
});

const buffers = (list: string[]) => list.map((s) => Buffer.from(s, 'latin1'));

describe('clientResponseHeaders', () => {
  it('drops hop-by-hop fields and those Connection names, keeps the rest and their order', () => {
    const out = clientResponseHeaders(
      buffers([
        'Content-Type',
        'text/html',
        'Connection',
        'keep-alive, X-Private',
        'Keep-Alive',
        'timeout=5',
        'X-Private',
        'p',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
        'Proxy-Authenticate',
        'Basic',
        'Upgrade',
        'h2c',
        'Content-Length',
        '4',
      ]),
    );
    expect(out).toEqual([
      'Content-Type',
      'text/html',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'Content-Length',
      '4',
    ]);
  });

  it('drops a Content-Length that came with Transfer-Encoding', () => {
    expect(
      clientResponseHeaders(
        buffers(['Transfer-Encoding', 'chunked', 'Content-Length', '10', 'X', 'y']),
      ),
    ).toEqual(['X', 'y']);
  });

  it('keeps Connection and Upgrade on a 101 answer', () => {
    expect(
      clientResponseHeaders(
        buffers(['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'x']),
        true,
      ),
    ).toEqual(['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'x']);
  });

  it('passes latin1 bytes through unchanged', () => {
    expect(clientResponseHeaders([Buffer.from('X-Name'), Buffer.from([0x4a, 0xe9])])).toEqual([
      'X-Name',
      'J\u00e9',
    ]);
  });
});

describe('contentLength', () => {
  it.each([
    [['Content-Length', '1024'], 1024],
    [['content-length', '0'], 0],
    [['X', 'y'], -1],
    [['Content-Length', '1e3'], -1],
  ])('%j -> %d', (headers, expected) => {
    expect(contentLength(headers)).toBe(expected);
  });
});

describe('checkHandshake', () => {
  const good = {
    upgrade: 'websocket',
    connection: 'keep-alive, Upgrade',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  };
  it('accepts a valid WebSocket handshake', () => {
    expect(checkHandshake('GET', good)).toEqual({ ok: true });
  });
  it.each([
    ['POST', good, 400],
    ['GET', { ...good, upgrade: 'h2c' }, 400],
    ['GET', { ...good, connection: 'keep-alive' }, 400],
    ['GET', { ...good, 'sec-websocket-version': '8' }, 426],
    ['GET', { ...good, 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ' }, 400],
    ['GET', { ...good, 'sec-websocket-key': 'AAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, 400],
    ['GET', { ...good, 'sec-websocket-key': undefined }, 400],
  ] as const)('refuses %s %j with %d', (method, headers, status) => {
    const result = checkHandshake(method, headers);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.status).toBe(status);
  });
});

describe('isPortcullisPath', () => {
  it.each([
    ['/auth', true],
    ['/auth/login', true],
    ['/auth/', true],
    ['/scim/v2', true],
    ['/scim/v2/Users', true],
    ['/authors', false],
    ['/scim/v20', false],
    ['/AUTH/login', false],
    ['/', false],
    ['/api/auth', false],
  ])('%s -> %s', (path, local) => {
    expect(isPortcullisPath('/auth', path)).toBe(local);
  });
});

describe('upstreamFailure', () => {
  const error = (code: string) => Object.assign(new Error(code), { code });
  it.each([
    ['ECONNREFUSED', 502],
    ['ENOTFOUND', 502],
    ['UND_ERR_SOCKET', 502],
    ['UND_ERR_CONNECT_TIMEOUT', 504],
    ['UND_ERR_HEADERS_TIMEOUT', 504],
    ['UND_ERR_BODY_TIMEOUT', 504],
  ])('%s -> %d', (code, status) => {
    expect(upstreamFailure(error(code)).status).toBe(status);
  });
});
