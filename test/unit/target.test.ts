import { describe, expect, it } from 'vitest';
import {
  buildTarget,
  normalizePath,
  parseAbsoluteTarget,
  parseHost,
  type Target,
  targetUrl,
} from '../../src/core/target.js';

function target(uri: string, host = 'app.example.com', scheme = 'https', method = 'GET'): Target {
  const result = buildTarget(scheme, host, uri, method);
  if (!result.ok) throw new Error(`rejected ${host} ${uri}: ${result.reason}`);
  return result.target;
}

describe('path normalisation (SPEC §3)', () => {
  // [raw request-target, strict path, lenient path, ambiguous]
  const table: [string, string, string, boolean][] = [
    ['/', '/', '/', false],
    ['/a/b', '/a/b', '/a/b', false],
    ['/a/b/', '/a/b/', '/a/b/', false],
    ['/a?b=c', '/a', '/a', false],
    ['/a#frag', '/a', '/a', false],
    ['/a?x#y', '/a', '/a', false],
    ['/?/public/x', '/', '/', false],
    ['/#/public/x', '/', '/', false],
    // Unreserved escapes are decoded once; the rest are kept, in upper case.
    ['/%7Euser/%41%62c', '/~user/Abc', '/~user/Abc', false],
    ['/%2d%2E%5f', '/-._', '/-._', false],
    // Lenient upstreams trim or drop whitespace: the lenient reading drops it.
    ['/a%20b', '/a%20b', '/ab', false],
    ['/caf%c3%a9', '/caf%C3%A9', '/caf\u00e9', false],
    // Dot segments resolved, repeated slashes collapsed.
    ['/a/./b/../c', '/a/c', '/a/c', true],
    ['/a/b/..', '/a/', '/a/', true],
    ['/a/b/.', '/a/b/', '/a/b/', true],
    ['/..', '/', '/', true],
    ['/../../etc/passwd', '/etc/passwd', '/etc/passwd', true],
    ['/a//b///c', '/a/b/c', '/a/b/c', false],
    ['//a', '/a', '/a', false],
    ['/a/%2e%2e/b', '/b', '/b', true],
    ['/a/%2E/b', '/a/b', '/a/b', true],
    ['/a/.%2e/b', '/b', '/b', true],
    // Encoded slashes and backslashes stay one segment strictly; a lenient upstream splits.
    ['/a%2Fb', '/a%2Fb', '/a/b', true],
    ['/a%2fb', '/a%2Fb', '/a/b', true],
    ['/a/..%2fb', '/a/..%2Fb', '/b', true],
    ['/a%5Cb', '/a%5Cb', '/a/b', true],
    ['/a\\b', '/a\\b', '/a/b', true],
    ['/a/..\\b', '/a/..\\b', '/b', true],
    // `;` parameters: one segment strictly; dropped by a lenient upstream (Tomcat, Spring).
    ['/admin;x/y', '/admin;x/y', '/admin/y', true],
    ['/public/..;/admin', '/public/..;/admin', '/admin', true],
    ['/a%3Bb/c', '/a%3Bb/c', '/a/c', true],
    // Double encoding: decoded up to three rounds by the lenient reading.
    ['/a%252Fb', '/a%252Fb', '/a/b', true],
    ['/a%25252fb', '/a%25252fb', '/a/b', true],
    ['/public/%252e%252e/admin', '/public/%252e%252e/admin', '/admin', true],
    // An encoded `#` or `?` ends the path for an upstream that decodes before it splits.
    ['/admin%23/../public/x', '/public/x', '/admin', true],
    ['/admin%3F/../public/x', '/public/x', '/admin', true],
    ['/admin%23x', '/admin%23x', '/admin', true],
    // NUL is kept strictly and marks the path as ambiguous.
    ['/a%00b', '/a%00b', '/ab', true],
    // Case is kept; rules match the lenient reading without case.
    ['/ADMIN/X', '/ADMIN/X', '/ADMIN/X', false],
  ];
  it.each(table)('%s → %s (lenient %s, ambiguous %s)', (uri, path, loose, ambiguous) => {
    const t = target(uri);
    expect(t.path).toBe(path);
    expect(t.loosePath).toBe(loose);
    expect(t.ambiguous).toBe(ambiguous);
  });

  it('keeps the raw path and the query for rd', () => {
    const t = target('/a/%2e%2e/b?x=1&y=%2F#frag');
    expect(t.rawPath).toBe('/a/%2e%2e/b');
    expect(t.query).toBe('x=1&y=%2F');
    expect(targetUrl(t)).toBe('https://app.example.com/a/%2e%2e/b?x=1&y=%2F');
  });

  it('normalizePath treats an empty path as /', () => {
    expect(normalizePath('')).toBe('/');
  });
});

describe('hosts', () => {
  const table: [string, string, string][] = [
    ['app.example.com', 'app.example.com', ''],
    ['APP.Example.COM', 'app.example.com', ''],
    ['app.example.com.', 'app.example.com', ''],
    ['APP.EXAMPLE.COM.:8443', 'app.example.com', ':8443'],
    ['app.example.com:8443', 'app.example.com', ':8443'],
    ['localhost', 'localhost', ''],
    ['127.0.0.1:80', '127.0.0.1', ':80'],
    ['[::1]', '[::1]', ''],
    ['[::1]:8080', '[::1]', ':8080'],
    ['my_service', 'my_service', ''],
  ];
  it.each(table)('%s → host %s port %j', (value, host, port) => {
    expect(parseHost(value)).toEqual({ host, port });
  });

  const bad = [
    '',
    '.',
    '.example.com',
    'app..example.com',
    'app.example.com:0',
    'app.example.com:65536',
    'app.example.com:99999',
    'app.example.com:abc',
    'app.example.com:',
    'app example.com',
    'app.example.com, evil.com',
    'evil.com,app.example.com',
    'user@app.example.com',
    'app.example.com/path',
    'app.example.com\\evil',
    'app.example.com\tevil',
    'app.exa\u0000mple.com',
    'аpp.example.com',
    '[::1',
    '[zz::1]',
    '-',
  ];
  it.each(bad)('refuses %j', (value) => {
    expect(parseHost(value)).toBeNull();
  });
});

describe('buildTarget refuses what a proxy never sends', () => {
  const table: [string, string, string, string, string][] = [
    ['ftp', 'app.example.com', '/', 'GET', 'scheme'],
    ['javascript', 'app.example.com', '/', 'GET', 'scheme'],
    ['', 'app.example.com', '/', 'GET', 'scheme'],
    ['https', 'app.example.com, evil.com', '/', 'GET', 'host'],
    ['https', '', '/', 'GET', 'host'],
    ['https', 'app.example.com', 'relative', 'GET', 'uri'],
    ['https', 'app.example.com', '', 'GET', 'uri'],
    ['https', 'app.example.com', '*', 'GET', 'uri'],
    ['https', 'app.example.com', 'http://evil.com/', 'GET', 'uri'],
    ['https', 'app.example.com', '/a b', 'GET', 'uri'],
    ['https', 'app.example.com', '/a\tb', 'GET', 'uri'],
    ['https', 'app.example.com', '/a\r\nSet-Cookie: x', 'GET', 'uri'],
    ['https', 'app.example.com', '/a\u0000', 'GET', 'uri'],
    ['https', 'app.example.com', '/a\u007f', 'GET', 'uri'],
    ['https', 'app.example.com', '/caf\u00e9', 'GET', 'uri'],
    ['https', 'app.example.com', '/\uff0fadmin', 'GET', 'uri'],
    ['https', 'app.example.com', `/${'a'.repeat(8192)}`, 'GET', 'uri'],
    ['https', 'app.example.com', '/', 'get', 'method'],
    ['https', 'app.example.com', '/', 'G ET', 'method'],
    ['https', 'app.example.com', '/', 'A'.repeat(17), 'method'],
    // Overlong and otherwise invalid UTF-8: one decoder reads `.` or `/`, another nothing.
    ['https', 'app.example.com', '/x/%c0%ae%c0%ae/admin', 'GET', 'invalid UTF-8 in path'],
    ['https', 'app.example.com', '/%c0%afadmin', 'GET', 'invalid UTF-8 in path'],
    ['https', 'app.example.com', '/x/%e0%80%ae', 'GET', 'invalid UTF-8 in path'],
    ['https', 'app.example.com', '/x/%f0%80%80%ae', 'GET', 'invalid UTF-8 in path'],
    ['https', 'app.example.com', '/admin%ff', 'GET', 'invalid UTF-8 in path'],
    ['https', 'app.example.com', '/admin%80', 'GET', 'invalid UTF-8 in path'],
    ['https', 'app.example.com', '/admin%ed%a0%80', 'GET', 'invalid UTF-8 in path'],
    ['https', 'app.example.com', '/caf%c3', 'GET', 'invalid UTF-8 in path'],
  ];
  it.each(table)('%s %j %j %j → %s', (scheme, host, uri, method, reason) => {
    expect(buildTarget(scheme, host, uri, method)).toEqual({ ok: false, reason });
  });

  it('takes a missing method as unknown, not as GET', () => {
    const result = buildTarget('https', 'app.example.com', '/', '');
    expect(result.ok && result.target.method).toBe('');
  });

  it('accepts valid multi-byte UTF-8 escapes', () => {
    const result = buildTarget(
      'https',
      'app.example.com',
      '/caf%C3%A9/%E2%82%AC/%F0%9F%98%80',
      'GET',
    );
    expect(result.ok).toBe(true);
  });

  it('accepts an upper-case scheme and the longest path', () => {
    const result = buildTarget('HTTPS', 'app.example.com', `/${'a'.repeat(8191)}`, 'PROPFIND');
    expect(result.ok && result.target.scheme).toBe('https');
  });
});

describe('parseAbsoluteTarget (X-Original-URL)', () => {
  const good: [string, string, string, string, string][] = [
    ['https://app.example.com/a?b', 'https', 'app.example.com', '/a', 'b'],
    ['HTTP://APP.EXAMPLE.COM/X', 'http', 'app.example.com', '/X', ''],
    ['https://app.example.com', 'https', 'app.example.com', '/', ''],
    ['https://app.example.com?x=1', 'https', 'app.example.com', '/', 'x=1'],
    ['https://app.example.com#frag', 'https', 'app.example.com', '/', ''],
    ['https://app.example.com.:8443/', 'https', 'app.example.com', '/', ''],
  ];
  it.each(good)('%s', (url, scheme, host, path, query) => {
    const result = parseAbsoluteTarget(url, 'GET');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.target).toMatchObject({ scheme, host, path, query });
  });

  const bad: [string, string][] = [
    ['https://good.example.com@evil.com/', 'userinfo'],
    ['https://user:pass@app.example.com/', 'userinfo'],
    ['//app.example.com/', 'url'],
    ['/just/a/path', 'url'],
    ['javascript:alert(1)', 'url'],
    ['', 'url'],
    ['ftp://app.example.com/', 'scheme'],
    ['https:///x', 'host'],
    ['https://app.example.com:0/', 'host'],
    ['https://app.example.com\\evil.com/', 'host'],
    ['https://app.example.com/a b', 'uri'],
    ['https://app.example.com/\r\nX-Injected: 1', 'url'],
  ];
  it.each(bad)('refuses %j (%s)', (url, reason) => {
    expect(parseAbsoluteTarget(url, 'GET')).toEqual({ ok: false, reason });
  });
});
