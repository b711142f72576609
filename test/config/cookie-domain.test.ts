import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { readCorpus } from '../fixtures/read-corpus.js';
import { writeConfig } from '../helpers/app.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'portcullis.js');

const table = readCorpus(new URL('../fixtures/cookie-domains.txt', import.meta.url)).map(
  ({ line, value }) => {
    const [domain, verdict] = value.split(' | ');
    if (!domain || (verdict !== 'ok' && verdict !== 'error'))
      throw new Error(`line ${line}: not "value | ok|error"`);
    return { line, domain, ok: verdict === 'ok' };
  },
);

function problems(domain: string): string[] {
  try {
    loadConfig({ path: writeConfig({ session: { cookie_domain: domain } }), env: {} });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map(formatIssue);
    throw error;
  }
}

describe('session.cookie_domain', () => {
  it('the table has public, private and registrable domains', () => {
    expect(table.filter((row) => row.ok).length).toBeGreaterThanOrEqual(10);
    expect(table.filter((row) => !row.ok).length).toBeGreaterThanOrEqual(25);
  });

  it.each(table)('line $line: $domain (ok: $ok)', ({ domain, ok }) => {
    const found = problems(domain);
    if (ok) {
      expect(found).toEqual([]);
    } else {
      // Exactly one message, on the key, whatever made it wrong.
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/^session\.cookie_domain: /);
    }
  });

  it('says why a public suffix is refused', () => {
    expect(problems('.co.uk')).toEqual([
      'session.cookie_domain: co.uk is a public suffix (shared by sites of different owners); use a domain of your own under it, e.g. .example.co.uk',
    ]);
    expect(problems('github.io')[0]).toContain('github.io is a public suffix');
  });

  // The real binary, as an operator runs it (runs the last build: `npm run build` first), for a
  // sample of the table: each run starts a process, and loadConfig above covers every line.
  const sample = [
    ...table.filter((row) => row.ok).slice(0, 2),
    ...table.filter((row) => !row.ok).slice(0, 4),
  ];
  it.each(sample)('check-config, line $line: $domain', ({ domain, ok }) => {
    if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('run `npm run build` first');
    const path = writeConfig({ session: { cookie_domain: domain } });
    const result = spawnSync(process.execPath, [BIN, 'check-config', '--config', path], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
      timeout: 20_000,
    });
    if (ok) {
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('config OK');
    } else {
      expect(result.status).toBe(2);
      expect(result.stderr).toContain('session.cookie_domain: ');
      expect(result.stdout).toBe('');
    }
  });
});
