import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  APP_TOKEN_LENGTH,
  hashAppToken,
  isAppTokenShape,
  mintAppToken,
} from '../../src/core/app-token.js';
import {
  appTokenHeadersToStrip,
  extractAppToken,
  type HeaderBag,
} from '../../src/core/app-token-extract.js';
import { type AppTokenScope, scopeAllows, scopeProblem } from '../../src/core/app-token-scope.js';
import { parseAbsoluteTarget, type Target } from '../../src/core/target.js';

interface Case {
  why: string;
  tokenHeader?: string | null;
  headers: Record<string, string | string[]>;
  expect: {
    kind: 'none' | 'token' | 'invalid';
    token?: 'A' | 'B';
    source?: string;
    strip: string[];
  };
}

const corpus = JSON.parse(
  readFileSync(new URL('../fixtures/app-token-credentials.json', import.meta.url), 'utf8'),
) as { tokens: { A: string; B: string }; cases: Case[] };

function fill(text: string): string {
  return text
    .replace(/\{repeat:([^:}]*):(\d+)\}/g, (_m, part: string, count: string) =>
      part.repeat(Number(count)),
    )
    .replaceAll('{A}', corpus.tokens.A)
    .replaceAll('{B}', corpus.tokens.B)
    .replace(/\{b64:([^}]*)\}/g, (_m, plain: string) =>
      Buffer.from(plain, 'latin1').toString('base64'),
    );
}

function headersOf(raw: Case['headers']): HeaderBag {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(raw))
    out[name] = Array.isArray(value) ? value.map(fill) : fill(value);
  return out;
}

describe('mintAppToken', () => {
  it('mints pcx_ + 256 random bits, a separate hex id and the SHA-256 of the whole token', () => {
    const minted = mintAppToken();
    expect(minted.token).toMatch(/^pcx_[A-Za-z0-9_-]{43}$/);
    expect(minted.token).toHaveLength(APP_TOKEN_LENGTH);
    expect(Buffer.from(minted.token.slice(4), 'base64url')).toHaveLength(32);
    expect(isAppTokenShape(minted.token)).toBe(true);
    expect(minted.id).toMatch(/^[0-9a-f]{16}$/);
    expect(minted.token).not.toContain(minted.id);
    expect(minted.hash).toBe(hashAppToken(minted.token));
    expect(minted.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(minted.hash).not.toContain(minted.token.slice(4));
  });

  it('never mints the same token twice and uses the injected randomness', () => {
    const seen = new Set(Array.from({ length: 200 }, () => mintAppToken().token));
    expect(seen.size).toBe(200);
    const fixed = mintAppToken((size) => new Uint8Array(size).fill(7));
    expect(fixed.token).toBe(`pcx_${Buffer.alloc(32, 7).toString('base64url')}`);
    expect(fixed.id).toBe('0707070707070707');
    expect(() => mintAppToken((size) => new Uint8Array(size - 1))).toThrow();
  });

  it('hashes the prefix too: the same secret without pcx_ is another hash', () => {
    const { token } = mintAppToken();
    expect(hashAppToken(token)).not.toBe(hashAppToken(token.slice(4)));
  });
});

describe('isAppTokenShape', () => {
  const good = corpus.tokens.A;
  it.each([
    ['the token', good, true],
    ['empty', '', false],
    ['prefix only', 'pcx_', false],
    ['upper-case prefix', `PCX_${good.slice(4)}`, false],
    ['other prefix', `pcy_${good.slice(4)}`, false],
    ['one short', good.slice(0, -1), false],
    ['one long', `${good}A`, false],
    ['padding', `${good}=`, false],
    ['space at the end', `${good} `, false],
    ['+ instead of -', corpus.tokens.B.replace('-', '+'), false],
    ['non-canonical last character', `${good.slice(0, -1)}9`, false],
    ['newline at the end', `${good}\n`, false],
  ])('%s', (_why, value, expected) => {
    expect(isAppTokenShape(value)).toBe(expected);
  });
});

describe('extractAppToken (fixtures/app-token-credentials.json)', () => {
  it.each(corpus.cases.map((c) => [c.why, c] as const))('%s', (_why, c) => {
    const headerName = c.tokenHeader === undefined ? 'X-Portcullis-Token' : c.tokenHeader;
    const headers = headersOf(c.headers);
    const result = extractAppToken(headers, headerName);
    if (c.expect.kind === 'none') expect(result).toBeNull();
    else if (c.expect.kind === 'token') {
      expect(result).toEqual({
        kind: 'token',
        token: corpus.tokens[c.expect.token as 'A' | 'B'],
        source: c.expect.source,
        strip: c.expect.strip,
      });
    } else {
      expect(result?.kind).toBe('invalid');
      expect(result?.strip).toEqual(c.expect.strip);
    }
    expect(appTokenHeadersToStrip(headers, headerName)).toEqual(c.expect.strip);
  });

  it('answers a 60 kB header quickly', () => {
    const headers = {
      authorization: `Basic ${Buffer.from(`${'u'.repeat(45_000)}:x`).toString('base64')}`,
    };
    const started = performance.now();
    for (let i = 0; i < 100; i++) extractAppToken(headers, 'X-Portcullis-Token');
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

function target(url: string, method = 'GET'): Target {
  const parsed = parseAbsoluteTarget(url, method);
  if (!parsed.ok) throw new Error(`bad test URL ${url}`);
  return parsed.target;
}

describe('scopeAllows', () => {
  const cases: [string, AppTokenScope | null, string, string, boolean][] = [
    ['no scope: anywhere', null, 'https://any.example.com/x', 'DELETE', true],
    ['empty scope object: anywhere', {}, 'https://any.example.com/x', 'GET', true],
    ['exact host', { hosts: ['khoj.example.com'] }, 'https://khoj.example.com/api', 'GET', true],
    [
      'host glob in upper case matches',
      { hosts: ['KHOJ.example.com'] },
      'https://khoj.example.com/',
      'GET',
      true,
    ],
    ['other host', { hosts: ['khoj.example.com'] }, 'https://wiki.example.com/', 'GET', false],
    [
      'look-alike host',
      { hosts: ['khoj.example.com'] },
      'https://khoj.example.com.evil.net/',
      'GET',
      false,
    ],
    ['subdomain glob', { hosts: ['*.example.com'] }, 'https://a.b.example.com/', 'GET', true],
    [
      'subdomain glob does not cover the apex',
      { hosts: ['*.example.com'] },
      'https://example.com/',
      'GET',
      false,
    ],
    [
      'subdomain glob and dot boundary',
      { hosts: ['*.example.com'] },
      'https://evilexample.com/',
      'GET',
      false,
    ],
    [
      'trailing dot on the target host',
      { hosts: ['khoj.example.com'] },
      'https://khoj.example.com./',
      'GET',
      true,
    ],
    ['path prefix', { paths: ['/api/**'] }, 'https://h.example.com/api/chat', 'GET', true],
    [
      'path prefix covers the bare prefix',
      { paths: ['/api/**'] },
      'https://h.example.com/api',
      'GET',
      true,
    ],
    ['path outside', { paths: ['/api/**'] }, 'https://h.example.com/admin', 'GET', false],
    ['prefix look-alike', { paths: ['/api/**'] }, 'https://h.example.com/apiary', 'GET', false],
    [
      'dot segments out of the scope',
      { paths: ['/api/**'] },
      'https://h.example.com/api/../admin',
      'GET',
      false,
    ],
    [
      'encoded slash is ambiguous',
      { paths: ['/api/**'] },
      'https://h.example.com/api%2F..%2Fadmin',
      'GET',
      false,
    ],
    [
      'encoded dot segment',
      { paths: ['/api/**'] },
      'https://h.example.com/api/%2e%2e/admin',
      'GET',
      false,
    ],
    ['backslash', { paths: ['/api/**'] }, 'https://h.example.com/api\\..\\admin', 'GET', false],
    [
      'semicolon parameter',
      { paths: ['/api/**'] },
      'https://h.example.com/api;x/../admin',
      'GET',
      false,
    ],
    [
      'a path upstreams read differently is refused even when both readings fit',
      { paths: ['/api/**'] },
      'https://h.example.com/api/x;a=b',
      'GET',
      false,
    ],
    [
      'case differs: refused (a scope only narrows)',
      { paths: ['/api/**'] },
      'https://h.example.com/API/chat',
      'GET',
      false,
    ],
    [
      'single-segment star',
      { paths: ['/api/*/status'] },
      'https://h.example.com/api/x/status',
      'GET',
      true,
    ],
    [
      'single-segment star does not cross /',
      { paths: ['/api/*/status'] },
      'https://h.example.com/api/x/y/status',
      'GET',
      false,
    ],
    [
      'unreserved escapes decoded once',
      { paths: ['/api/**'] },
      'https://h.example.com/%61pi/x',
      'GET',
      true,
    ],
    ['method listed', { methods: ['GET', 'post'] }, 'https://h.example.com/', 'POST', true],
    ['method not listed', { methods: ['GET'] }, 'https://h.example.com/', 'DELETE', false],
    ['HEAD is not GET', { methods: ['GET'] }, 'https://h.example.com/', 'HEAD', false],
    [
      'unknown method never matches a method scope',
      { methods: ['GET'] },
      'https://h.example.com/',
      '',
      false,
    ],
    [
      'unknown method without a method scope',
      { hosts: ['h.example.com'] },
      'https://h.example.com/',
      '',
      true,
    ],
    [
      'all three hold',
      { hosts: ['h.example.com'], paths: ['/api/**'], methods: ['GET'] },
      'https://h.example.com/api/x',
      'GET',
      true,
    ],
    [
      'all three, one fails',
      { hosts: ['h.example.com'], paths: ['/api/**'], methods: ['GET'] },
      'https://h.example.com/api/x',
      'PUT',
      false,
    ],
    ['empty host list allows nothing', { hosts: [] }, 'https://h.example.com/', 'GET', false],
    ['empty path list allows nothing', { paths: [] }, 'https://h.example.com/', 'GET', false],
  ];
  it.each(cases)('%s', (_why, scope, url, method, expected) => {
    expect(scopeAllows(scope, target(url, method))).toBe(expected);
  });

  it('takes a plain { host, path, method } too', () => {
    expect(scopeAllows({ paths: ['/api/**'] }, { host: 'h', path: '/api/x', method: 'GET' })).toBe(
      true,
    );
    expect(
      scopeAllows(
        { paths: ['/api/**'] },
        { host: 'h', path: '/api/x', loosePath: '/admin', method: 'GET' },
      ),
    ).toBe(false);
  });
});

describe('scopeProblem', () => {
  it.each([
    [{ hosts: ['khoj.example.com', '*.example.com'], paths: ['/api/**'], methods: ['get'] }, null],
    [{}, null],
    [{ hosts: [] }, 'hosts'],
    [{ hosts: ['exa mple.com'] }, 'hosts'],
    [{ hosts: ['https://example.com'] }, 'hosts'],
    [{ hosts: ['a..b'] }, 'hosts'],
    [{ paths: ['api/**'] }, 'paths'],
    [{ paths: ['/a?b'] }, 'paths'],
    [{ methods: ['GE T'] }, 'methods'],
    [{ methods: Array.from({ length: 33 }, () => 'GET') }, 'methods'],
    [{ paths: [`/${'a'.repeat(300)}`] }, 'paths'],
  ] as [AppTokenScope, string | null][])('%j', (scope, problem) => {
    const found = scopeProblem(scope);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(new RegExp(`^${problem}:`));
  });
});
