import { describe, expect, it } from 'vitest';
import {
  allowedOrigin,
  allowedOriginsFrom,
  corsRefusalHeaders,
  isAllowedPreflight,
} from '../../src/core/cors.js';

const allowed = allowedOriginsFrom([
  'app://obsidian.md',
  'capacitor://localhost',
  'http://localhost',
  'https://Notes.Example.com',
]);

describe('allowedOrigin', () => {
  const cases: [string | string[] | undefined, string | null][] = [
    ['app://obsidian.md', 'app://obsidian.md'],
    ['APP://OBSIDIAN.MD', 'app://obsidian.md'],
    ['capacitor://localhost', 'capacitor://localhost'],
    ['http://localhost', 'http://localhost'],
    ['https://notes.example.com', 'https://notes.example.com'],
    // Near misses: none of these is an allowed origin.
    ['http://localhost:8080', null],
    ['https://localhost', null],
    ['app://obsidian.md.evil.com', null],
    ['app://obsidian.md/', null],
    ['app://obsidian.mdx', null],
    ['https://evil.com', null],
    ['null', null],
    ['', null],
    [' app://obsidian.md', null],
    ['app://obsidian.md, https://evil.com', null],
    [['app://obsidian.md', 'https://evil.com'], null],
    [['app://obsidian.md'], 'app://obsidian.md'],
    [undefined, null],
    [`app://obsidian.md${'a'.repeat(300)}`, null],
    ['*', null],
  ];
  for (const [origin, expected] of cases) {
    it(`${JSON.stringify(origin)?.slice(0, 60)} → ${expected}`, () => {
      expect(allowedOrigin(origin, allowed)).toBe(expected);
    });
  }

  it('an empty list allows nothing', () => {
    expect(allowedOrigin('app://obsidian.md', allowedOriginsFrom([]))).toBeNull();
  });
});

describe('isAllowedPreflight', () => {
  const cases: [string | null, string | undefined, string | undefined, boolean][] = [
    ['OPTIONS', 'app://obsidian.md', 'POST', true],
    ['OPTIONS', 'capacitor://localhost', 'GET', true],
    // Not a preflight: no Access-Control-Request-Method, or another method.
    ['OPTIONS', 'app://obsidian.md', undefined, false],
    ['GET', 'app://obsidian.md', 'POST', false],
    ['POST', 'app://obsidian.md', 'POST', false],
    ['options', 'app://obsidian.md', 'POST', false],
    [null, 'app://obsidian.md', 'POST', false],
    // Not from an allowed origin.
    ['OPTIONS', 'https://evil.com', 'POST', false],
    ['OPTIONS', undefined, 'POST', false],
    // A requested method that is not a token.
    ['OPTIONS', 'app://obsidian.md', 'PO ST', false],
    ['OPTIONS', 'app://obsidian.md', '', false],
    ['OPTIONS', 'app://obsidian.md', 'GET, POST', false],
  ];
  for (const [method, origin, requested, expected] of cases) {
    it(`${method} from ${origin} asking ${requested} → ${expected}`, () => {
      expect(isAllowedPreflight(method, origin, requested, allowed)).toBe(expected);
    });
  }
});

describe('corsRefusalHeaders', () => {
  it('names the origin, exposes WWW-Authenticate and varies on Origin', () => {
    expect(corsRefusalHeaders('app://obsidian.md')).toEqual([
      'Access-Control-Allow-Origin',
      'app://obsidian.md',
      'Access-Control-Expose-Headers',
      'WWW-Authenticate',
      'Vary',
      'Origin',
    ]);
  });
  it('adds nothing for another origin', () => {
    expect(corsRefusalHeaders(null)).toEqual([]);
  });
});
