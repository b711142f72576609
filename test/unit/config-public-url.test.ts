import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type Config, loadConfig } from '../../src/config/load.js';
import { publicUrlFromListen } from '../../src/config/parse.js';
import { startLoggedApp } from '../helpers/mail-app.js';

/**
 * `server.public_url` left unset follows `server.listen` (after PORTCULLIS_LISTEN), so
 * `PORTCULLIS_LISTEN=127.0.0.1:5555 portcullis serve` sends people to 5555, not 4180.
 */
type Env = Record<string, string | undefined>;

function load(config: Record<string, unknown>, env: Env = {}): Config {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-public-url-'));
  const path = join(dir, 'portcullis.yaml');
  writeFileSync(path, stringify(config));
  return loadConfig({ path, env });
}

const wildcardWarnings = (config: Config) =>
  config.warnings.filter((w) => w.startsWith('server.public_url is not set'));

describe('publicUrlFromListen', () => {
  const table: [string, string, boolean][] = [
    ['127.0.0.1:4180', 'http://127.0.0.1:4180', false],
    ['127.0.0.1:5555', 'http://127.0.0.1:5555', false],
    ['localhost:8080', 'http://localhost:8080', false],
    ['Auth.Internal:9000', 'http://auth.internal:9000', false],
    ['[::1]:4180', 'http://[::1]:4180', false],
    ['[fd00::5]:9000', 'http://[fd00::5]:9000', false],
    ['0.0.0.0:4180', 'http://127.0.0.1:4180', true],
    ['0:4180', 'http://127.0.0.1:4180', true],
    ['[::]:8080', 'http://127.0.0.1:8080', true],
    ['[0:0::0]:8080', 'http://127.0.0.1:8080', true],
    [':8080', 'http://127.0.0.1:8080', true],
  ];
  it.each(table)('%s → %s', (listen, url, wildcard) => {
    expect(publicUrlFromListen(listen)).toEqual({ url, wildcard });
  });
});

describe('server.public_url when unset', () => {
  it('is http://127.0.0.1:4180 for an empty config, without a warning', () => {
    const config = load({});
    expect(config.raw.server.public_url).toBe('http://127.0.0.1:4180');
    expect(config.publicOrigin).toBe('http://127.0.0.1:4180');
    expect(config.secureCookies).toBe(false);
    expect(config.warnings).toEqual([]);
  });

  it('follows server.listen in the file', () => {
    const config = load({ server: { listen: '127.0.0.1:5555' } });
    expect(config.raw.server.public_url).toBe('http://127.0.0.1:5555');
    expect(config.publicOrigin).toBe('http://127.0.0.1:5555');
  });

  it('follows PORTCULLIS_LISTEN, which wins over the file', () => {
    const config = load(
      { server: { listen: '127.0.0.1:4180' } },
      { PORTCULLIS_LISTEN: '127.0.0.1:5555' },
    );
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 5555 });
    expect(config.publicOrigin).toBe('http://127.0.0.1:5555');
    expect(config.redirectPolicy.exactHosts.has('127.0.0.1')).toBe(true);
  });

  it('brackets an IPv6 host', () => {
    const config = load({}, { PORTCULLIS_LISTEN: '[::1]:4181' });
    expect(config.listen).toEqual({ host: '::1', port: 4181 });
    expect(config.publicOrigin).toBe('http://[::1]:4181');
    expect(config.warnings).toEqual([]);
  });

  it('is the same when the file says public_url: null', () => {
    const config = load({ server: { listen: '127.0.0.1:6000', public_url: null } });
    expect(config.publicOrigin).toBe('http://127.0.0.1:6000');
  });

  it.each([
    ['0.0.0.0:8080', {}],
    ['[::]:8080', {}],
    ['0.0.0.0:8080', { PORTCULLIS_LISTEN: '0.0.0.0:8080' }],
  ] as [string, Env][])(
    'turns the wildcard listen %s into 127.0.0.1 and warns that public_url should be set',
    (listen, env) => {
      const config = load({ server: { listen } }, env);
      expect(config.publicOrigin).toBe('http://127.0.0.1:8080');
      const [warning, ...more] = wildcardWarnings(config);
      expect(more).toEqual([]);
      expect(warning).toContain(listen);
      expect(warning).toContain('http://127.0.0.1:8080');
      expect(warning).toContain('set server.public_url (or PORTCULLIS_PUBLIC_URL)');
    },
  );
});

describe('an explicit server.public_url still wins', () => {
  it('the file’s key over PORTCULLIS_LISTEN', () => {
    const config = load(
      { server: { public_url: 'https://auth.example.com' } },
      { PORTCULLIS_LISTEN: '127.0.0.1:5555' },
    );
    expect(config.listen.port).toBe(5555);
    expect(config.publicOrigin).toBe('https://auth.example.com');
    expect(config.raw.server.public_url).toBe('https://auth.example.com');
  });

  it('PORTCULLIS_PUBLIC_URL over the file and the listen address', () => {
    const config = load(
      { server: { listen: '127.0.0.1:5555', public_url: 'https://file.example.com' } },
      { PORTCULLIS_PUBLIC_URL: 'https://env.example.com' },
    );
    expect(config.publicOrigin).toBe('https://env.example.com');
    expect(load({}, { PORTCULLIS_PUBLIC_URL: 'https://env.example.com' }).publicOrigin).toBe(
      'https://env.example.com',
    );
  });

  it('with a wildcard listen, no warning about it', () => {
    const config = load(
      { server: { listen: '0.0.0.0:4180' } },
      { PORTCULLIS_PUBLIC_URL: 'https://auth.example.com' },
    );
    expect(config.publicOrigin).toBe('https://auth.example.com');
    expect(wildcardWarnings(config)).toEqual([]);
  });
});

describe('at startup', () => {
  it('logs the wildcard warning and builds links from the derived URL', async () => {
    const app = await startLoggedApp({ server: { listen: '0.0.0.0:4180' } });
    try {
      const warning = app.logs.find(
        (l) => l.level === 40 && String(l.msg).startsWith('server.public_url is not set'),
      );
      expect(warning).toBeDefined();
      expect(await app.ctx.loginLinks.issue('a@example.com', '/')).toMatch(
        /^http:\/\/127\.0\.0\.1:4180\/auth\/magic\?token=/,
      );
    } finally {
      await app.close();
    }
  });
});
