import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatIssue } from '../../src/config/issues.js';
import { type Config, loadConfig } from '../../src/config/load.js';
import { storeIsRedis } from '../../src/config/schema.js';
import { TEST_SECRET, writeConfig } from '../helpers/app.js';

/**
 * Issue 11 finding 4: `store.sentinel` or `store.cluster` without `store.url` ran the memory
 * store and check-config said OK. Each is complete on its own and selects Redis (then needs
 * auth.secret_key like any Redis store), or the config is refused.
 */

interface Case {
  name: string;
  store: Record<string, unknown>;
  REDIS_URL?: string;
  secret: boolean;
  redis?: boolean;
  warning?: string;
  issues?: string[];
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'portcullis.js');
const { cases } = JSON.parse(
  readFileSync(new URL('../fixtures/store-settings.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

function configFor(row: Case): string {
  return writeConfig({
    store: row.store,
    ...(row.secret ? { auth: { secret_key: TEST_SECRET } } : {}),
  });
}

function load(row: Case): { config: Config | null; problems: string[] } {
  const env = row.REDIS_URL ? { REDIS_URL: row.REDIS_URL } : {};
  try {
    return { config: loadConfig({ path: configFor(row), env }), problems: [] };
  } catch (error) {
    if (error instanceof ConfigError)
      return { config: null, problems: error.issues.map(formatIssue) };
    throw error;
  }
}

describe('store: memory, Redis, Sentinel or Cluster', () => {
  it('the table has accepted and refused settings of each kind', () => {
    expect(cases.filter((c) => c.issues).length).toBeGreaterThanOrEqual(10);
    expect(
      cases.filter((c) => c.redis && (c.store.sentinel || c.store.cluster)).length,
    ).toBeGreaterThanOrEqual(4);
  });

  it.each(cases)('$name', (row) => {
    const { config, problems } = load(row);
    if (row.issues) {
      expect(config).toBeNull();
      for (const expected of row.issues)
        expect(
          problems.some((p) => p.startsWith(expected)),
          `${expected} in ${problems.join('; ')}`,
        ).toBe(true);
      return;
    }
    expect(problems).toEqual([]);
    expect(storeIsRedis(config?.raw.store as Config['raw']['store'])).toBe(row.redis);
    if (row.warning)
      expect(config?.warnings.some((w) => w.startsWith(row.warning as string))).toBe(true);
  });

  it('check-config refuses a Sentinel setting that cannot run (exit 2, names store.sentinel)', () => {
    const row = cases.find((c) => c.name === 'sentinel and cluster together') as Case;
    const result = spawnSync(process.execPath, [BIN, 'check-config', '--config', configFor(row)], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('store.sentinel: cannot be combined with store.cluster');
  });

  it('check-config names Sentinel and Cluster in its summary, not memory://', () => {
    for (const name of ['sentinel without url', 'cluster without url']) {
      const row = cases.find((c) => c.name === name) as Case;
      const result = spawnSync(
        process.execPath,
        [BIN, 'check-config', '--config', configFor(row)],
        {
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '' },
        },
      );
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/store redis (sentinel|cluster) /);
      expect(result.stdout).not.toContain('memory://');
    }
  });
});
