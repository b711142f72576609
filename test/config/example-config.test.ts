import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

const EXAMPLE = 'config/portcullis.example.yaml';

function keyPaths(shape: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(shape)) {
    const path = prefix ? `${prefix}.${key}` : key;
    out.push(path);
    if (value && typeof value === 'object' && !Array.isArray(value))
      out.push(...keyPaths(value as Record<string, unknown>, path));
  }
  return out;
}

describe('config/portcullis.example.yaml', () => {
  it('parses against the schema with every feature switched on', () => {
    const config = loadConfig({
      path: EXAMPLE,
      env: {
        PORTCULLIS_SECRET_KEY: 'ab'.repeat(32),
        GOOGLE_CLIENT_ID: 'id',
        GOOGLE_CLIENT_SECRET: 'secret',
      },
    });
    expect(config.raw.access.rules).toHaveLength(6);
    expect(config.raw.access.rules[5]?.require).toEqual(['passkey']);
    expect(config.raw.auth.magic_link.ttl).toBe(15 * 60_000);
  });

  it('documents every key the schema knows', () => {
    const documented = new Set(
      keyPaths(parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>),
    );
    const defaults = configSchema.parse({}) as unknown as Record<string, unknown>;
    const missing = keyPaths(defaults).filter(
      (path) => !documented.has(path) && !path.startsWith('auth.basic.users.'),
    );
    expect(missing).toEqual([]);
  });

  it('is the source of the quick-start config: config/portcullis.yaml loads with no environment', () => {
    const config = loadConfig({ path: 'config/portcullis.yaml', env: {} });
    expect(config.raw.store.url).toBe('memory://');
    expect(config.raw.auth.magic_link.mailer).toBe('log');
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 4180 });
    expect(config.publicOrigin).toBe('http://127.0.0.1:4180');
    // `PORTCULLIS_LISTEN=127.0.0.1:5555 npm start` sends people to 5555, not 4180.
    const moved = loadConfig({
      path: 'config/portcullis.yaml',
      env: { PORTCULLIS_LISTEN: '127.0.0.1:5555' },
    });
    expect(moved.publicOrigin).toBe('http://127.0.0.1:5555');
  });
});
