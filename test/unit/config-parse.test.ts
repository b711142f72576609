import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { derive } from '../../src/config/derive.js';
import type { FileRead } from '../../src/config/file-values.js';
import { type ConfigIssue, formatIssue } from '../../src/config/issues.js';
import { type EnvSettings, NO_ENV, type ParseResult, parse } from '../../src/config/parse.js';
import { storeIsRedis } from '../../src/config/schema.js';

/**
 * Issue 12 item 5: parse() is pure, so every config rule runs from a plain object, without a
 * file or an environment. The same tables that test/config/* run through loadConfig and a
 * temporary file run here in-process, plus the rules for values load.ts hands in.
 */

const TEST_SECRET = 'a'.repeat(64);

type FileSpec = { path: string; text: string } | { path: string; size: number } | FileRead;

interface Case {
  name: string;
  config: Record<string, unknown>;
  env?: Partial<EnvSettings>;
  files?: Record<string, FileSpec>;
  reported?: ConfigIssue[];
  issues?: string[];
  warnings?: string[];
  no_warnings?: boolean;
  raw?: Record<string, unknown>;
  logo?: string;
  smtp_ca?: boolean;
}

function fixture<T>(name: string): T[] {
  const text = readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
  return (JSON.parse(text) as { cases: T[] }).cases;
}

const cases = fixture<Case>('config-parse-cases.json');

function filesOf(specs: Record<string, FileSpec> = {}): Map<string, FileRead> {
  const out = new Map<string, FileRead>();
  for (const [setting, spec] of Object.entries(specs)) {
    if ('text' in spec) out.set(setting, { path: spec.path, bytes: Buffer.from(spec.text) });
    else if ('size' in spec) out.set(setting, { path: spec.path, bytes: Buffer.alloc(spec.size) });
    else out.set(setting, spec);
  }
  return out;
}

function run(row: Case): ParseResult {
  return parse(row.config, {
    env: { ...NO_ENV, ...row.env },
    files: filesOf(row.files),
    reported: row.reported ?? [],
  });
}

function valueAt(value: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((at, key) => (at as Record<string, unknown>)?.[key], value);
}

/** Each expected `path: message start` matches exactly one reported line, and nothing else is reported. */
function expectExactly(reported: readonly ConfigIssue[], expected: readonly string[]): void {
  const unmatched = reported.map(formatIssue);
  for (const want of expected) {
    const index = unmatched.findIndex((line) => line.startsWith(want));
    expect(index, `"${want}" missing from:\n${unmatched.join('\n')}`).not.toBe(-1);
    unmatched.splice(index, 1);
  }
  expect(unmatched, 'reported beyond the expected problems').toEqual([]);
}

function warningsOf(result: ParseResult): string[] {
  return 'issues' in result ? result.warnings : result.config.warnings;
}

describe('parse: plain objects in, { config } or { issues } out', () => {
  it('the table holds accepted and refused configs', () => {
    expect(cases.filter((row) => row.issues).length).toBeGreaterThanOrEqual(10);
    expect(cases.filter((row) => !row.issues).length).toBeGreaterThanOrEqual(10);
  });

  it.each(cases)('$name', (row) => {
    const result = run(row);
    if (row.issues) {
      expect('issues' in result, JSON.stringify(result)).toBe(true);
      if ('issues' in result) expectExactly(result.issues, row.issues);
    } else {
      expect('issues' in result ? result.issues.map(formatIssue) : []).toEqual([]);
    }
    const warnings = warningsOf(result);
    if (row.no_warnings) expect(warnings).toEqual([]);
    for (const want of row.warnings ?? [])
      expect(
        warnings.some((w) => w.includes(want)),
        warnings.join('\n'),
      ).toBe(true);
    if (!('config' in result)) return;
    for (const [path, value] of Object.entries(row.raw ?? {}))
      expect(valueAt(result.config.raw, path), path).toEqual(value);
    expect(result.config.logo?.contentType ?? null).toBe(row.logo ?? null);
    expect(result.config.smtpCa !== null).toBe(row.smtp_ca ?? false);
  });

  it('leaves its input as it found it', () => {
    const config = {
      sesion: {},
      auth: { enabled_auth: ['oidc', 'googel'] },
      access: { rules: [] },
    };
    const before = structuredClone(config);
    run({ name: 'mutation', config });
    expect(config).toEqual(before);
  });
});

interface CheckConfigCase {
  name: string;
  config: Record<string, unknown>;
  env?: Record<string, string>;
  issues: string[];
  warnings?: string[];
}

describe('parse: the check-config table (test/config/check-config.test.ts) without a file', () => {
  // A row with an environment exercises `${VAR}` substitution, which is load.ts's part.
  const rows = fixture<CheckConfigCase>('check-config-cases.json').filter((row) => !row.env);

  it('keeps most of the table', () => {
    expect(rows.length).toBeGreaterThanOrEqual(8);
  });

  it.each(rows)('$name', (row) => {
    const result = parse(row.config);
    expectExactly('issues' in result ? result.issues : [], row.issues);
    const warnings = warningsOf(result);
    for (const want of row.warnings ?? [])
      expect(
        warnings.some((w) => w.includes(want)),
        warnings.join('\n'),
      ).toBe(true);
  });
});

interface StoreCase {
  name: string;
  store: Record<string, unknown>;
  REDIS_URL?: string;
  secret: boolean;
  redis?: boolean;
  warning?: string;
  issues?: string[];
}

describe('parse: the store table (test/config/store-settings.test.ts) without a file', () => {
  it.each(fixture<StoreCase>('store-settings.json'))('$name', (row) => {
    // REDIS_URL is load.ts's override of store.url; here it is written in directly.
    const store = row.REDIS_URL ? { ...row.store, url: row.REDIS_URL } : row.store;
    const result = parse({ store, ...(row.secret ? { auth: { secret_key: TEST_SECRET } } : {}) });
    if (row.issues) {
      const lines = 'issues' in result ? result.issues.map(formatIssue) : [];
      for (const want of row.issues)
        expect(
          lines.some((line) => line.startsWith(want)),
          lines.join('\n'),
        ).toBe(true);
      return;
    }
    if ('issues' in result) throw new Error(result.issues.map(formatIssue).join('\n'));
    expect(storeIsRedis(result.config.raw.store)).toBe(row.redis);
    if (row.warning)
      expect(result.config.warnings.some((w) => w.startsWith(row.warning as string))).toBe(true);
  });
});

describe('derive: the typed values the server reads', () => {
  function derived(config: Record<string, unknown>) {
    const result = parse(config);
    if ('issues' in result) throw new Error(result.issues.map(formatIssue).join('\n'));
    return derive(result.config, { path: '/etc/portcullis/portcullis.yaml', env: NO_ENV });
  }

  it.each([
    ['https://auth.example.com', true, false],
    ['http://auth.example.com', false, true],
    ['http://localhost:4180', false, false],
    ['http://127.0.0.1:4180', false, false],
  ])('public_url %s: secure cookies %s, plain-http warning %s', (url, secure, warns) => {
    const config = derived({ server: { public_url: url } });
    expect(config.secureCookies).toBe(secure);
    expect(config.warnings.some((w) => w.startsWith('server.public_url is plain http'))).toBe(
      warns,
    );
    expect(config.publicOrigin).toBe(new URL(url).origin);
  });

  it('splits listen, keeps the key order and trusts only the listed proxies', () => {
    const config = derived({
      server: { listen: '[::1]:9000', trusted_proxies: ['10.0.0.0/8', '::1'] },
      auth: { secret_key: [TEST_SECRET, 'b'.repeat(64)] },
    });
    expect(config.listen).toEqual({ host: '::1', port: 9000 });
    expect(config.secretKeys?.map((key) => key.toString('hex'))).toEqual([
      TEST_SECRET,
      'b'.repeat(64),
    ]);
    expect(config.trustedProxies.check('10.1.2.3', 'ipv4')).toBe(true);
    expect(config.trustedProxies.check('11.1.2.3', 'ipv4')).toBe(false);
    expect(config.trustedProxies.check('::1', 'ipv6')).toBe(true);
    expect(config.path).toBe('/etc/portcullis/portcullis.yaml');
  });

  it('compiles one rule per access rule', () => {
    const config = derived({
      access: { rules: [{ host: 'a.example.com' }, { host: 'b.example.com', policy: 'deny' }] },
    });
    expect(config.rules).toHaveLength(2);
    expect(config.secretKeys).toBeNull();
  });
});
