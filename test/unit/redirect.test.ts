import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { compileHostGlob } from '../../src/core/glob.js';
import { isOurHost, type RedirectPolicy, safeRedirect } from '../../src/core/redirect.js';
import { decodeCorpusLine, readCorpus } from '../fixtures/read-corpus.js';
import { writeConfig } from '../helpers/app.js';

// The deployment the corpus is written against (see the header of open-redirects.txt), loaded
// through the real config path so the policy is the one a server would use.
const config = loadConfig({
  path: writeConfig({
    server: { public_url: 'https://auth.example.com' },
    session: { cookie_domain: '.example.com' },
    access: {
      rules: [
        { host: 'app.internal.test', path: '/api/health', policy: 'bypass' },
        { host: ['wiki.corp.test', 'docs.corp.test'], groups: ['staff'] },
        { host: '*.apps.test', emails: ['*@example.com'] },
      ],
    },
  }),
  env: {},
});
const policy = config.redirectPolicy;

const hostile = readCorpus(new URL('../fixtures/open-redirects.txt', import.meta.url));

describe('the open-redirect corpus', () => {
  it('is big enough to mean something', () => {
    expect(hostile.length).toBeGreaterThanOrEqual(80);
  });

  it.each(hostile)('line $line falls back to /: $source', ({ value }) => {
    expect(safeRedirect(value, policy)).toBe('/');
  });

  it('decodes its escapes', () => {
    expect(decodeCorpusLine('/\\t/x')).toBe('/\t/x');
    expect(decodeCorpusLine('\\\\evil')).toBe('\\evil');
    expect(decodeCorpusLine('/\\u{ff0f}x')).toBe('/\uff0fx');
    expect(decodeCorpusLine('\\x00//e')).toBe('\0//e');
    expect(decodeCorpusLine('/\\*3{ab}')).toBe('/ababab');
    expect(() => decodeCorpusLine('/\\q')).toThrow(/unknown escape/);
  });
});

describe('values that must be honoured unchanged', () => {
  const honoured: [string, string][] = [
    ['the root', '/'],
    ['a relative path', '/dashboard'],
    ['a relative path with query and fragment', '/a/b?c=d#e'],
    ['a relative path whose query holds a URL', '/search?next=//evil.com'],
    ['an encoded slash after the first segment', '/files/a%2Fb'],
    ['a relative path with an @ in it', '/@alice/profile'],
    ['percent-encoded non-ASCII', '/caf%C3%A9'],
    ['public_url host', 'https://auth.example.com/'],
    ['public_url host without a path', 'https://auth.example.com'],
    ['public_url host with query only', 'https://auth.example.com?x=1'],
    ['public_url host in upper case', 'HTTPS://AUTH.EXAMPLE.COM/Page'],
    ['public_url host over http', 'http://auth.example.com/x?y=1#z'],
    ['public_url host with its default port spelled out', 'https://auth.example.com:443/x'],
    ['public_url host with its trailing dot', 'https://auth.example.com./'],
    ['the cookie_domain itself', 'https://example.com/'],
    ['a cookie_domain subdomain', 'https://wiki.example.com/page'],
    ['a deeper cookie_domain subdomain', 'https://a.b.c.example.com/'],
    ['an exact host from access.rules', 'https://app.internal.test/api'],
    ['a host from a rule host list', 'https://docs.corp.test/x'],
    ['the other host of that list', 'http://wiki.corp.test/'],
    ['a rule host with the default port spelled out', 'http://wiki.corp.test:80/'],
    ['a glob rule host', 'https://x.apps.test/'],
    ['a deeper glob rule host', 'https://deep.x.apps.test/y?z'],
  ];
  it.each(honoured)('honours %s: %s', (_name, rd) => {
    expect(safeRedirect(rd, policy)).toBe(rd);
  });
});

describe('missing and odd inputs', () => {
  it.each([undefined, null, ''])('falls back to / for %j', (rd) => {
    expect(safeRedirect(rd, policy)).toBe('/');
  });

  it('accepts a value at the length limit and refuses one past it', () => {
    const base = 'https://auth.example.com/';
    const atLimit = base + 'a'.repeat(4096 - base.length);
    expect(safeRedirect(atLimit, policy)).toBe(atLimit);
    expect(safeRedirect(`${atLimit}a`, policy)).toBe('/');
  });
});

describe('the policy', () => {
  it('without a cookie_domain, subdomains of public_url are not ours', () => {
    const bare: RedirectPolicy = {
      exactHosts: new Set(['auth.example.com']),
      domains: [],
      hostPatterns: [],
    };
    expect(safeRedirect('https://auth.example.com/x', bare)).toBe('https://auth.example.com/x');
    expect(safeRedirect('https://wiki.example.com/', bare)).toBe('/');
    expect(safeRedirect('https://example.com/', bare)).toBe('/');
  });

  it('compares domains on a dot boundary', () => {
    const p: RedirectPolicy = {
      exactHosts: new Set(),
      domains: ['example.com'],
      hostPatterns: [compileHostGlob('*.apps.test')],
    };
    expect(isOurHost('example.com', p)).toBe(true);
    expect(isOurHost('a.example.com', p)).toBe(true);
    expect(isOurHost('evil-example.com', p)).toBe(false);
    expect(isOurHost('evilexample.com', p)).toBe(false);
    expect(isOurHost('example.com.evil.com', p)).toBe(false);
    expect(isOurHost('a.apps.test', p)).toBe(true);
    expect(isOurHost('apps.test', p)).toBe(false);
    expect(isOurHost('', p)).toBe(false);
  });

  it('is built from public_url, cookie_domain and rule hosts', () => {
    expect([...policy.exactHosts].sort()).toEqual([
      'app.internal.test',
      'auth.example.com',
      'docs.corp.test',
      'wiki.corp.test',
    ]);
    expect(policy.domains).toEqual(['example.com']);
    expect(policy.hostPatterns).toHaveLength(1);
  });
});
