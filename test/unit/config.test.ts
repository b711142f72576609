// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${VAR}` is config syntax under test, not a template.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, formatIssue } from '../../src/config/issues.js';
import { type Config, loadConfig } from '../../src/config/load.js';
import { parseDuration } from '../../src/core/duration.js';

const KEY = 'ab'.repeat(32);
const KEY2 = 'cd'.repeat(32);

type Env = Record<string, string | undefined>;

/** Writes files into a fresh directory; returns the directory. */
function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Loads `portcullis.yaml` (YAML text or an object) with an explicit environment. */
function load(
  config: string | Record<string, unknown>,
  env: Env = {},
  extra: Record<string, string> = {},
): Config {
  const text = typeof config === 'string' ? config : stringify(config);
  const dir = dirWith({ 'portcullis.yaml': text, ...extra });
  return loadConfig({ path: join(dir, 'portcullis.yaml'), env });
}

/** The formatted problems a config produces; fails the test when it loads. */
function problems(
  config: string | Record<string, unknown>,
  env: Env = {},
  extra: Record<string, string> = {},
): string[] {
  try {
    load(config, env, extra);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map(formatIssue);
    throw error;
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

function paths(config: string | Record<string, unknown>, env: Env = {}): string[] {
  return problems(config, env).map((line) => line.slice(0, line.indexOf(': ')));
}

describe('an empty config', () => {
  it('loads with the documented defaults and no secret (memory store)', () => {
    const config = load('');
    expect(config.raw.server.listen).toBe('127.0.0.1:4180');
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 4180 });
    expect(config.raw.server.public_url).toBe('http://127.0.0.1:4180');
    expect(config.raw.store.url).toBe('memory://');
    expect(config.secretKeys).toBeNull();
    expect(config.raw.access.default_policy).toBe('authenticated');
    expect(config.raw.session.lifetime).toBe(30 * 86_400_000);
    expect(config.raw.auth.magic_link.ttl).toBe(15 * 60_000);
  });
});

describe('unknown keys are errors with their dotted path', () => {
  const table: [string, Record<string, unknown>, string][] = [
    ['a top-level typo', { sesion: { lifetime: '1d' } }, 'sesion'],
    ['a nested typo', { session: { cookie_nmae: 'x' } }, 'session.cookie_nmae'],
    ['a deep typo', { auth: { magic_link: { maler: 'log' } } }, 'auth.magic_link.maler'],
    [
      'a typo inside a rule',
      { access: { rules: [{ host: 'a.test' }, { host: 'b.test', polcy: 'bypass' }] } },
      'access.rules.1.polcy',
    ],
    [
      'a typo in a static user',
      { auth: { basic: { users: [{ email: 'a@b.c', pasword_hash: 'x' }] } } },
      'auth.basic.users.0.pasword_hash',
    ],
  ];
  it.each(table)('%s', (_name, config, path) => {
    expect(problems(config)).toContain(`${path}: unknown key`);
  });

  it('a YAML merge key is not special, so it is an unknown key', () => {
    expect(paths('base: &b {listen: "0.0.0.0:1"}\nserver:\n  <<: *b\n')).toEqual(
      expect.arrayContaining(['base', 'server.<<']),
    );
  });

  it('`__proto__` cannot smuggle keys past the schema', () => {
    const found = problems('__proto__:\n  anonymous_mode: true\n');
    expect(found).toContain('__proto__: unknown key');
  });

  it('`__proto__` nested, or from the secrets file, is refused the same way', () => {
    expect(problems('auth:\n  __proto__:\n    enabled_auth: [basic]\n')).toContain(
      'auth.__proto__: unknown key',
    );
    expect(
      problems('{}\n', {}, { 'secrets.yaml': '__proto__:\n  anonymous_mode: true\n' }),
    ).toContain('__proto__: unknown key');
  });
});

describe('wrong types and values', () => {
  const table: [string, string, string][] = [
    ['a number for listen', 'server:\n  listen: 4180\n', 'server.listen'],
    ['listen without a port', 'server:\n  listen: 127.0.0.1\n', 'server.listen'],
    ['listen on port 70000', 'server:\n  listen: "127.0.0.1:70000"\n', 'server.listen'],
    ['a string for a boolean', 'anonymous_mode: "yes"\n', 'anonymous_mode'],
    ['a mapping for a list', 'access:\n  rules: {}\n', 'access.rules'],
    ['a string for a header list', 'headers:\n  user: Remote-User\n', 'headers.user'],
    ['a header name with a colon', 'headers:\n  user: ["Remote-User:"]\n', 'headers.user.0'],
    ['a bad CIDR', 'server:\n  trusted_proxies: [10.0.0.0/33]\n', 'server.trusted_proxies.0'],
    [
      'a hostname as a proxy',
      'server:\n  trusted_proxies: [proxy.local]\n',
      'server.trusted_proxies.0',
    ],
    ['a relative public_url', 'server:\n  public_url: auth.example.com\n', 'server.public_url'],
    [
      'public_url with userinfo',
      'server:\n  public_url: https://u@auth.example.com\n',
      'server.public_url',
    ],
    [
      'public_url with a bad port',
      'server:\n  public_url: "http://a.example.com:99999"\n',
      'server.public_url',
    ],
    [
      'public_url with a bad IPv6 host',
      'server:\n  public_url: "http://[zz]/"\n',
      'server.public_url',
    ],
    [
      'a path_prefix with a slash at the end',
      'server:\n  path_prefix: /auth/\n',
      'server.path_prefix',
    ],
    ['an unknown policy', 'access:\n  default_policy: allow\n', 'access.default_policy'],
    [
      'an unknown login method',
      'auth:\n  enabled_auth: [magic_link, saml]\n',
      'auth.enabled_auth.1',
    ],
    ['an unknown mailer', 'auth:\n  magic_link:\n    mailer: sendmail\n', 'auth.magic_link.mailer'],
    [
      'an smtp url that is not a URL',
      'auth:\n  magic_link:\n    mailer: smtp\n    smtp: { url: "mail.example.com:587" }\n',
      'auth.magic_link.smtp.url',
    ],
    [
      'an smtp url with another scheme',
      'auth:\n  magic_link:\n    smtp: { url: "https://mail.example.com" }\n',
      'auth.magic_link.smtp.url',
    ],
    ['a store that is neither memory nor redis', 'store:\n  url: postgres://x\n', 'store.url'],
    ['a redis url that does not parse', 'store:\n  url: "redis://host:port/0"\n', 'store.url'],
    ['a redis url whose db is not a number', 'store:\n  url: redis://host/zero\n', 'store.url'],
    ['a memory url with anything after it', 'store:\n  url: memory://local\n', 'store.url'],
    [
      'a cookie_domain with a scheme',
      'session:\n  cookie_domain: https://example.com\n',
      'session.cookie_domain',
    ],
    [
      'a cookie name with a space',
      'session:\n  cookie_name: "my session"\n',
      'session.cookie_name',
    ],
    [
      'a rule host with a scheme',
      'access:\n  rules: [{host: "https://app.example.com"}]\n',
      'access.rules.0.host',
    ],
    [
      'a rule host with a port',
      'access:\n  rules: [{host: "app.example.com:8443"}]\n',
      'access.rules.0.host',
    ],
    [
      'a rule path without its slash',
      'access:\n  rules: [{path: "admin/**", groups: [a]}]\n',
      'access.rules.0.path',
    ],
    ['a rule path with a query', 'access:\n  rules: [{path: "/a?b"}]\n', 'access.rules.0.path'],
    [
      'a rule domain written as an address',
      'access:\n  rules: [{domains: ["@example.com"]}]\n',
      'access.rules.0.domains.0',
    ],
    [
      'a rule method with a space',
      'access:\n  rules: [{methods: ["GE T"]}]\n',
      'access.rules.0.methods.0',
    ],
    ['an empty rule group list', 'access:\n  rules: [{groups: []}]\n', 'access.rules.0.groups'],
    [
      'a static user without a valid email',
      'auth:\n  basic:\n    users: [{email: "a@b@c", password_hash: x}]\n',
      'auth.basic.users.0.email',
    ],
  ];
  it.each(table)('%s → %s', (_name, yaml, path) => {
    expect(paths(yaml)).toContain(path);
  });

  it('accepts smtp:// and smtps:// mail server URLs, with credentials', () => {
    for (const url of ['smtp://user:p%40ss@mail.example.com:587', 'smtps://mail.example.com:465']) {
      const config = load({ auth: { magic_link: { mailer: 'smtp', smtp: { url } } } });
      expect(config.raw.auth.magic_link.smtp?.url).toBe(url);
    }
  });

  it('a rule host list is checked item by item', () => {
    expect(paths('access:\n  rules: [{host: ["a.test", "b.test/x"]}]\n').join()).toMatch(
      /^access\.rules\.0\.host/,
    );
  });
});

describe('secret_key', () => {
  const bad: [string, unknown][] = [
    ['too short', 'ab'.repeat(31)],
    ['not hex', 'zz'.repeat(32)],
    ['a base64 string', 'q'.repeat(43)],
    ['a number', 12345],
    ['an empty list', []],
    ['a list with one short key', [KEY, 'abcd']],
  ];
  it.each(bad)('refuses a key that is %s', (_name, secret) => {
    const found = problems({ auth: { secret_key: secret } });
    expect(found.length).toBeGreaterThan(0);
    for (const line of found) expect(line).toMatch(/^auth\.secret_key/);
  });

  it('takes one key, or a list whose first key signs', () => {
    expect(load({ auth: { secret_key: KEY } }).secretKeys?.map((k) => k.toString('hex'))).toEqual([
      KEY,
    ]);
    expect(
      load({ auth: { secret_key: [KEY2, KEY] } }).secretKeys?.map((k) => k.toString('hex')),
    ).toEqual([KEY2, KEY]);
  });

  it('accepts upper-case hex and keys longer than 32 bytes', () => {
    expect(load({ auth: { secret_key: `${KEY.toUpperCase()}ff` } }).secretKeys?.[0]).toHaveLength(
      33,
    );
  });

  it('is required with a Redis store, optional with memory', () => {
    expect(problems({ store: { url: 'redis://127.0.0.1:6379/0' } })).toEqual([
      expect.stringMatching(/^auth\.secret_key: required with a Redis store/),
    ]);
    expect(
      load({ store: { url: 'redis://127.0.0.1:6379/0' }, auth: { secret_key: KEY } }).raw.store.url,
    ).toBe('redis://127.0.0.1:6379/0');
    expect(load({ store: { url: 'memory://' } }).secretKeys).toBeNull();
  });

  it('a short key with Redis is an error about the key, reported once', () => {
    const found = problems({ store: { url: 'rediss://r:6380' }, auth: { secret_key: 'abcd' } });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^auth\.secret_key: must be at least 32 random bytes/);
  });
});

describe('durations', () => {
  const good: [string, number][] = [
    ['90s', 90_000],
    ['15m', 900_000],
    ['12h', 43_200_000],
    ['30d', 2_592_000_000],
    ['250ms', 250],
  ];
  it.each(good)('%s = %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  const bad = [
    '',
    '15',
    '0s',
    '-5m',
    '1.5h',
    '15M',
    '15 min',
    'm15',
    '1w',
    '10 years',
    '1e3s',
    '9999999999d',
  ];
  it.each(bad)('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeNull();
  });

  it.each([
    ['session.lifetime', { session: { lifetime: '10 years' } }],
    ['session.idle_timeout', { session: { idle_timeout: '0s' } }],
    ['auth.magic_link.ttl', { auth: { magic_link: { ttl: 15 } } }],
  ])('a bad duration in the config names %s', (path, config) => {
    expect(paths(config)).toEqual([path]);
  });

  it('the config turns durations into milliseconds', () => {
    const config = load({ session: { lifetime: '12h', idle_timeout: '90s' } });
    expect(config.raw.session.lifetime).toBe(43_200_000);
    expect(config.raw.session.idle_timeout).toBe(90_000);
  });
});

describe('every problem is reported at once', () => {
  it('lists schema problems from every section together', () => {
    const found = paths({
      sesion: {},
      server: { listen: 'nope', public_url: 'ftp://x' },
      auth: { secret_key: 'short', magic_link: { ttl: 'soon' } },
      access: { default_policy: 'maybe', rules: [{ path: 'admin' }] },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        'sesion',
        'server.listen',
        'server.public_url',
        'auth.secret_key',
        'auth.magic_link.ttl',
        'access.default_policy',
        'access.rules.0.path',
      ]),
    );
    expect(found).toHaveLength(7);
  });

  it('cross-key problems are listed beside schema problems', () => {
    const found = paths(
      {
        sesion: {},
        store: { url: 'redis://127.0.0.1:6379' },
        auth: { magic_link: { mailer: 'resend' } },
        scim: { enabled: true },
      },
      {},
    );
    expect(found.sort()).toEqual([
      'auth.magic_link.mailer',
      'auth.secret_key',
      'scim.enabled',
      'sesion',
    ]);
  });

  it('interpolation and secrets-file problems come with the rest', () => {
    const found = problems(
      'secrets_file: missing.yaml\nserver:\n  public_url: "https://${HOST}/x"\nsesion: 1\n',
    );
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^secrets_file: cannot read .*missing\.yaml/),
        'server.public_url: environment variable HOST is not set',
        'sesion: unknown key',
      ]),
    );
  });

  it('the error message holds one `path: message` line per problem', () => {
    try {
      load({ sesion: {}, server: { listen: 1 } });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const lines = (error as ConfigError).message.split('\n');
      expect(lines).toHaveLength(2);
      for (const line of lines) expect(line).toMatch(/^[a-z_.0-9]+: \S/);
    }
  });
});

describe('${VAR} interpolation', () => {
  it('replaces variables inside strings', () => {
    const config = load(
      { server: { public_url: 'https://${HOST}:${PORT}/sso' } },
      { HOST: 'auth.example.com', PORT: '8443' },
    );
    expect(config.raw.server.public_url).toBe('https://auth.example.com:8443/sso');
  });

  it('uses the :- default when the variable is unset or empty', () => {
    expect(load({ server: { listen: '${L:-0.0.0.0:9000}' } }).raw.server.listen).toBe(
      '0.0.0.0:9000',
    );
    expect(load({ server: { listen: '${L:-0.0.0.0:9000}' } }, { L: '' }).raw.server.listen).toBe(
      '0.0.0.0:9000',
    );
    expect(
      load({ server: { listen: '${L:-0.0.0.0:9000}' } }, { L: '127.0.0.1:1' }).raw.server.listen,
    ).toBe('127.0.0.1:1');
    expect(
      load({ server: { public_url: 'http://${H:-localhost}:1/' } }).raw.server.public_url,
    ).toBe('http://localhost:1/');
  });

  it('a whole value that is an unset variable counts as not set', () => {
    const config = load({
      server: { listen: '${NOPE}' },
      auth: { secret_key: '${PORTCULLIS_SECRET_KEY}' },
      session: { cookie_domain: '${COOKIE_DOMAIN}' },
    });
    expect(config.raw.server.listen).toBe('127.0.0.1:4180');
    expect(config.secretKeys).toBeNull();
    expect(config.raw.session.cookie_domain).toBeNull();
  });

  it('an unset variable inside a longer string is an error naming the key', () => {
    expect(problems({ server: { public_url: 'https://${NOPE}/' } })).toEqual([
      'server.public_url: environment variable NOPE is not set',
    ]);
    expect(problems({ admin: { emails: ['a@b.c', 'x-${NOPE}@b.c'] } })).toEqual([
      'admin.emails.1: environment variable NOPE is not set',
    ]);
  });

  it('an unset whole-value list item is dropped', () => {
    expect(load({ admin: { emails: ['a@b.c', '${NOPE}'] } }).raw.admin.emails).toEqual(['a@b.c']);
  });

  it('values are not expanded twice and cannot add YAML structure', () => {
    const config = load(
      { anonymous_user: { name: '${NAME}', email: '${EMAIL}' } },
      { NAME: '${SECRET}', SECRET: 'leaked', EMAIL: 'x@y\nanonymous_mode: true' },
    );
    expect(config.raw.anonymous_user.name).toBe('${SECRET}');
    expect(config.raw.anonymous_user.email).toBe('x@y\nanonymous_mode: true');
    expect(config.raw.anonymous_mode).toBe(false);
  });

  it('a typed value from a variable is still checked', () => {
    expect(paths({ server: { listen: '${L}' } }, { L: 'not-a-listen-address' })).toEqual([
      'server.listen',
    ]);
  });
});

describe('the secrets file', () => {
  it('secrets.yaml next to the config is merged when it exists', () => {
    const config = load(
      { auth: { enabled_auth: ['magic_link'] } },
      {},
      { 'secrets.yaml': stringify({ auth: { secret_key: KEY } }) },
    );
    expect(config.secretKeys?.[0]?.toString('hex')).toBe(KEY);
    expect(config.raw.auth.enabled_auth).toEqual(['magic_link']);
  });

  it('secrets_file names another file, relative to the config', () => {
    const config = load(
      { secrets_file: 'vault/../creds.yaml' },
      {},
      {
        'creds.yaml': stringify({ auth: { secret_key: KEY2 } }),
        'secrets.yaml': stringify({ auth: { secret_key: KEY } }),
      },
    );
    expect(config.secretKeys?.[0]?.toString('hex')).toBe(KEY2);
  });

  it('secrets_file may be absolute, and may come from the environment', () => {
    const elsewhere = dirWith({ 's.yaml': stringify({ auth: { secret_key: KEY2 } }) });
    expect(load({ secrets_file: join(elsewhere, 's.yaml') }).secretKeys?.[0]?.toString('hex')).toBe(
      KEY2,
    );
    expect(
      load({ secrets_file: '${CREDS}/s.yaml' }, { CREDS: elsewhere }).secretKeys?.[0]?.toString(
        'hex',
      ),
    ).toBe(KEY2);
  });

  it('the secrets file wins over the config for the keys it sets', () => {
    const config = load(
      { auth: { secret_key: KEY, enabled_auth: ['magic_link', 'basic'] } },
      {},
      { 'secrets.yaml': stringify({ auth: { secret_key: KEY2 } }) },
    );
    expect(config.secretKeys?.[0]?.toString('hex')).toBe(KEY2);
    expect(config.raw.auth.enabled_auth).toEqual(['magic_link', 'basic']);
  });

  it('is interpolated and validated like the config', () => {
    expect(
      load(
        {},
        { K: KEY },
        { 'secrets.yaml': 'auth:\n  secret_key: ${K}\n' },
      ).secretKeys?.[0]?.toString('hex'),
    ).toBe(KEY);
    expect(problems({}, {}, { 'secrets.yaml': 'auth:\n  secret_kee: x\n' })).toEqual([
      'auth.secret_kee: unknown key',
    ]);
  });

  it('a named secrets file that is missing is an error; a missing default one is not', () => {
    expect(problems({ secrets_file: 'nope.yaml' })).toEqual([
      expect.stringMatching(/^secrets_file: cannot read .*nope\.yaml: ENOENT/),
    ]);
    expect(load({}).secretKeys).toBeNull();
  });

  it('a secrets file that is not a mapping, or not YAML, is an error', () => {
    expect(problems({}, {}, { 'secrets.yaml': '- a\n- b\n' })).toEqual([
      expect.stringMatching(/^secrets_file: .* must hold a YAML mapping/),
    ]);
    expect(problems({}, {}, { 'secrets.yaml': 'auth: [\n' })).toEqual([
      expect.stringMatching(/^secrets_file: .* is not valid YAML/),
    ]);
  });
});

describe('environment names', () => {
  it('REDIS_URL overrides store.url', () => {
    const config = load(
      { store: { url: 'memory://' }, auth: { secret_key: KEY } },
      { REDIS_URL: 'redis://10.0.0.5:6379/2' },
    );
    expect(config.raw.store.url).toBe('redis://10.0.0.5:6379/2');
  });

  it('REDIS_URL makes a secret_key necessary', () => {
    expect(paths({}, { REDIS_URL: 'redis://10.0.0.5:6379/2' })).toEqual(['auth.secret_key']);
    expect(paths({}, { REDIS_URL: 'mysql://x' })).toEqual(['store.url']);
  });

  it('PORTCULLIS_LISTEN and PORTCULLIS_PUBLIC_URL override the file', () => {
    const config = load(
      { server: { listen: '127.0.0.1:1', public_url: 'http://127.0.0.1:1' } },
      { PORTCULLIS_LISTEN: '0.0.0.0:8080', PORTCULLIS_PUBLIC_URL: 'https://auth.example.com' },
    );
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(config.publicOrigin).toBe('https://auth.example.com');
    expect(config.secureCookies).toBe(true);
    expect(paths({}, { PORTCULLIS_LISTEN: 'everywhere' })).toEqual(['server.listen']);
  });

  it('PORTCULLIS_SECRET_KEY supplies the key when the file has none', () => {
    expect(load({}, { PORTCULLIS_SECRET_KEY: KEY }).secretKeys?.[0]?.toString('hex')).toBe(KEY);
    expect(
      load({ store: { url: 'redis://r:6379' } }, { PORTCULLIS_SECRET_KEY: KEY }).secretKeys,
    ).toHaveLength(1);
    expect(paths({}, { PORTCULLIS_SECRET_KEY: 'short' })).toEqual(['auth.secret_key']);
  });

  it('GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are required for google_oauth', () => {
    const google = { auth: { enabled_auth: ['google_oauth'] } };
    expect(paths(google).sort()).toEqual([
      'auth.google_oauth.client_id',
      'auth.google_oauth.client_secret',
    ]);
    expect(paths(google, { GOOGLE_CLIENT_ID: 'id' })).toEqual(['auth.google_oauth.client_secret']);
    const config = load(google, { GOOGLE_CLIENT_ID: 'id', GOOGLE_CLIENT_SECRET: 'shh' });
    expect(config.raw.auth.google_oauth).toMatchObject({ client_id: 'id', client_secret: 'shh' });
  });

  it('RESEND_API_KEY is required for the resend mailer, and only then', () => {
    const resend = { auth: { magic_link: { mailer: 'resend' } } };
    expect(problems(resend)).toEqual([
      'auth.magic_link.mailer: resend needs the RESEND_API_KEY environment variable',
    ]);
    expect(load(resend, { RESEND_API_KEY: 're_123' }).env.resendApiKey).toBe('re_123');
    expect(load({ auth: { magic_link: { mailer: 'log' } } }).env.resendApiKey).toBeNull();
  });

  it('SCIM needs SCIM_USER and SCIM_PASSWORD, or SCIM_BEARER_TOKEN, when enabled', () => {
    const scim = { scim: { enabled: true } };
    expect(paths(scim)).toEqual(['scim.enabled']);
    expect(paths(scim, { SCIM_USER: 'okta' })).toEqual(['scim.enabled']);
    expect(paths(scim, { SCIM_PASSWORD: 'pw' })).toEqual(['scim.enabled']);
    expect(load(scim, { SCIM_USER: 'okta', SCIM_PASSWORD: 'pw' }).env).toMatchObject({
      scimUser: 'okta',
      scimPassword: 'pw',
    });
    expect(load(scim, { SCIM_BEARER_TOKEN: 't' }).env.scimBearerToken).toBe('t');
    expect(load({ scim: { enabled: false } }).raw.scim.enabled).toBe(false);
  });

  it('PORTCULLIS_CONFIG names the file when no path is given', () => {
    const dir = dirWith({ 'elsewhere.yaml': stringify({ server: { listen: '127.0.0.1:7777' } }) });
    const config = loadConfig({ env: { PORTCULLIS_CONFIG: join(dir, 'elsewhere.yaml') } });
    expect(config.listen.port).toBe(7777);
    expect(config.path).toBe(join(dir, 'elsewhere.yaml'));
  });
});

describe('the config file itself', () => {
  it('a missing file is an error, not a crash', () => {
    expect(() => loadConfig({ path: join(dirWith({}), 'none.yaml'), env: {} })).toThrow(
      /cannot read .*none\.yaml: ENOENT/,
    );
  });

  it.each([
    ['a list', '- server\n- auth\n'],
    ['a scalar', 'just text\n'],
    ['a number', '42\n'],
  ])('a top level that is %s is an error', (_name, text) => {
    expect(problems(text)).toEqual([expect.stringMatching(/must hold a YAML mapping/)]);
  });

  it.each([
    ['an unclosed flow list', 'server: [\n'],
    ['a tab indent', 'server:\n\tlisten: x\n'],
    ['a duplicated key', 'server:\n  listen: 127.0.0.1:1\nserver:\n  listen: 0.0.0.0:1\n'],
    ['an undefined alias', 'server: *nothing\n'],
  ])('invalid YAML (%s) is an error', (_name, text) => {
    expect(problems(text)).toEqual([
      expect.stringMatching(/^\(config file\): .* is not valid YAML/),
    ]);
  });

  it('a YAML bomb (billion laughs) is refused quickly, without expanding it', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    const names = 'abcdefghi';
    for (let i = 1; i < names.length; i++) {
      const prev = `*${names[i - 1]}`;
      levels.push(`${names[i]}: &${names[i]} [${Array(9).fill(prev).join(',')}]`);
    }
    const started = performance.now();
    const found = problems(`${levels.join('\n')}\n`);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(found).toEqual([expect.stringMatching(/^\(config file\): .*alias/i)]);
  });

  it('a few ordinary anchors and aliases are fine', () => {
    const config = load(
      'admin:\n  emails: &admins [root@example.com]\naccess:\n  rules:\n    - {path: "/admin/**", emails: *admins}\n',
    );
    expect(config.raw.access.rules[0]?.emails).toEqual(['root@example.com']);
  });

  it('--anonymous-mode turns anonymous mode on over the file', () => {
    const dir = dirWith({ 'portcullis.yaml': 'anonymous_mode: false\n' });
    const config = loadConfig({ path: join(dir, 'portcullis.yaml'), env: {}, anonymousMode: true });
    expect(config.raw.anonymous_mode).toBe(true);
    expect(config.warnings.join()).toMatch(/anonymous_mode/);
  });
});
