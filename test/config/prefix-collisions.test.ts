import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { prefixCollisions, recognizeApps } from '../../src/config/prefix-collisions.js';

function writeConfig(config: Record<string, unknown>): string {
  const path = join(mkdtempSync(join(tmpdir(), 'portcullis-prefix-')), 'portcullis.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

/** Issue 13 part 6: a prefix that shadows the proxied app's own paths is warned about. */

const warns: [prefix: string, upstream: string, app: string, reserved: string][] = [
  ['/auth', 'http://khoj:42110', 'Khoj', '/auth'],
  ['/auth', 'http://10.0.0.5:42110', 'Khoj', '/auth'],
  ['/auth', 'http://my-khoj.lan', 'Khoj', '/auth'],
  ['/auth', 'http://KHOJ-server:8000', 'Khoj', '/auth'],
  ['/auth', 'https://khoj.example.com/base', 'Khoj', '/auth'],
  ['/api', 'http://khoj:42110', 'Khoj', '/api'],
  // The prefix inside an app path, and an app path inside the prefix.
  ['/api/portcullis', 'http://khoj:42110', 'Khoj', '/api'],
  ['/server', 'http://khoj:42110', 'Khoj', '/server'],
  ['/settings', 'http://khoj:42110', 'Khoj', '/settings'],
  ['/auth', 'http://homeassistant:8123', 'Home Assistant', '/auth'],
  ['/auth', 'http://192.168.1.2:8123', 'Home Assistant', '/auth'],
  ['/auth', 'http://hass.lan', 'Home Assistant', '/auth'],
  ['/auth', 'http://home-assistant', 'Home Assistant', '/auth'],
  ['/auth', 'http://open-webui:8080', 'Open WebUI', '/auth'],
  ['/auth', 'http://openwebui', 'Open WebUI', '/auth'],
];

const quiet: [prefix: string, upstream: string | null][] = [
  ['/_portcullis', 'http://khoj:42110'],
  ['/portcullis', 'http://khoj:42110'],
  // Segment boundaries: /authx and /auth share letters, not paths.
  ['/authx', 'http://khoj:42110'],
  ['/au', 'http://khoj:42110'],
  ['/apis', 'http://khoj:42110'],
  // Nothing says which app this is.
  ['/auth', 'http://app:8080'],
  ['/auth', 'http://10.0.0.5:4211'],
  ['/auth', 'http://10.0.0.5:421100'],
  ['/auth', 'http://chassis.lan'],
  // Without an upstream the proxy in front decides which paths reach portcullis.
  ['/auth', null],
];

describe('prefixCollisions', () => {
  it.each(warns)('%s with %s warns about %s %s', (prefix, upstream, app, reserved) => {
    const warnings = prefixCollisions(prefix, upstream);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`server.path_prefix ${prefix} collides with ${app}`);
    expect(warnings[0]).toContain(`serves ${reserved}:`);
    expect(warnings[0]).toContain('/_portcullis');
  });

  it.each(quiet)('%s with %s is quiet', (prefix, upstream) => {
    expect(prefixCollisions(prefix, upstream)).toEqual([]);
  });

  it('recognises an app by an explicit port only, not the scheme default', () => {
    expect(recognizeApps('http://app:42110').map((app) => app.name)).toEqual(['Khoj']);
    expect(recognizeApps('http://app').map((app) => app.name)).toEqual([]);
    expect(recognizeApps('not a url')).toEqual([]);
  });
});

describe('the warning reaches loadConfig', () => {
  it('for Khoj behind the default /auth prefix', () => {
    const config = loadConfig({
      path: writeConfig({ proxy: { upstream: 'http://khoj:42110' } }),
      env: {},
    });
    expect(config.warnings.filter((w) => w.includes('collides with Khoj'))).toHaveLength(1);
  });

  it('not for Khoj behind /_portcullis', () => {
    const config = loadConfig({
      path: writeConfig({
        server: { path_prefix: '/_portcullis' },
        proxy: { upstream: 'http://khoj:42110' },
      }),
      env: {},
    });
    expect(config.warnings.filter((w) => w.includes('collides'))).toEqual([]);
  });
});

describe('portcullis check-config (needs npm run build)', () => {
  const bin = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(PORTCULLIS_|REDIS_URL|GOOGLE_|SCIM_|RESEND_)/.test(name)) delete env[name];
  }
  const run = (config: Record<string, unknown>) =>
    spawnSync(process.execPath, [bin, 'check-config', '--config', writeConfig(config)], {
      env,
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('prints the collision as a warning and still exits 0', () => {
    const result = run({ proxy: { upstream: 'http://khoj:42110' } });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^config OK: /);
    const warnings = result.stderr.split('\n').filter((line) => line.startsWith('warning: '));
    expect(warnings.filter((line) => line.includes('collides with Khoj'))).toHaveLength(1);
  });

  it('prints nothing about it for a prefix Khoj does not use', () => {
    const result = run({
      server: { path_prefix: '/_portcullis' },
      proxy: { upstream: 'http://khoj:42110' },
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('collides');
  });
});
