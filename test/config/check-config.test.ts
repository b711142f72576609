import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { writeConfig } from '../helpers/app.js';

/**
 * Issue 11 item 7: `check-config` reports every problem in one run. A schema error in a section
 * (a typo, a bad duration) used to drop the cross-key checks of that whole section, so the
 * operator fixed the typo and only then learnt that google_oauth has no client_id.
 */

interface Case {
  name: string;
  config: Record<string, unknown>;
  env?: Record<string, string>;
  issues: string[];
  warnings?: string[];
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'portcullis.js');
const { cases } = JSON.parse(
  readFileSync(new URL('../fixtures/check-config-cases.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

function problems(row: Case): { issues: string[]; warnings: string[] } {
  try {
    const config = loadConfig({ path: writeConfig(row.config), env: row.env ?? {} });
    return { issues: [], warnings: config.warnings };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { issues: error.issues.map(formatIssue), warnings: [...error.warnings] };
  }
}

/** Each expected `path: message start` matches exactly one reported line, and nothing else is reported. */
function expectExactly(reported: string[], expected: string[]): void {
  const unmatched = [...reported];
  for (const want of expected) {
    const index = unmatched.findIndex((line) => line.startsWith(want));
    expect(index, `"${want}" missing from:\n${reported.join('\n')}`).not.toBe(-1);
    unmatched.splice(index, 1);
  }
  expect(unmatched, 'reported beyond the expected problems').toEqual([]);
}

describe('check-config: every problem in one run', () => {
  it('the table mixes schema and cross-key problems in one config', () => {
    const big = cases[0] as Case;
    expect(big.issues.length).toBeGreaterThanOrEqual(10);
  });

  it.each(cases)('$name', (row) => {
    const { issues, warnings } = problems(row);
    expectExactly(issues, row.issues);
    for (const want of row.warnings ?? []) {
      expect(
        warnings.some((warning) => warning.includes(want)),
        warnings.join('\n'),
      ).toBe(true);
    }
  });

  it('the binary lists them all and exits 2', () => {
    const row = cases[0] as Case;
    const path = writeConfig(row.config);
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) {
      if (/^(PORTCULLIS_|REDIS_URL|GOOGLE_|SCIM_|RESEND_)/.test(name)) delete env[name];
    }
    const result = spawnSync(process.execPath, [BIN, 'check-config', '--config', path], {
      env,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('  '))
      .map((line) => line.trim());
    expectExactly(lines, row.issues);
    const warnings = result.stderr.split('\n').filter((line) => line.startsWith('warning: '));
    for (const want of row.warnings ?? []) {
      expect(
        warnings.some((line) => line.includes(want)),
        result.stderr,
      ).toBe(true);
    }
  });
});
