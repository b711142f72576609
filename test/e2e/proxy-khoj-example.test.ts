import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { RequestHeaderPolicy, scanRequestHeaders } from '../../src/proxy/request-headers.js';
import { forgedHeaders, identitySpellingFamilies } from '../fixtures/identity-spellings.js';

const COMPOSE = fileURLToPath(new URL('../../examples/khoj/docker-compose.yml', import.meta.url));
const CONFIG = fileURLToPath(new URL('../../examples/khoj/portcullis.yaml', import.meta.url));
const NGINX = fileURLToPath(new URL('../../examples/khoj/nginx.conf', import.meta.url));
const CLIENTS = JSON.parse(
  readFileSync(new URL('../fixtures/khoj-clients.json', import.meta.url), 'utf8'),
) as { server: { path_prefixes: string[] }; requests: { path: string; origin: string | null }[] };

interface Service {
  build?: string;
  image?: string;
  command?: string | string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, unknown>;
  networks?: string[];
}

describe('examples/khoj: Khoj with portcullis as its front door', () => {
  const compose = parse(readFileSync(COMPOSE, 'utf8')) as {
    services: Record<string, Service>;
    networks: Record<string, { internal?: boolean } | null>;
  };
  const services = compose.services;

  it('runs portcullis, Redis and Khoj in anonymous mode, with only portcullis published', () => {
    expect(Object.keys(services).sort()).toEqual(['khoj', 'khoj-db', 'portcullis', 'redis']);
    const khoj = services.khoj as Service;
    expect(String(khoj.command)).toContain('--anonymous-mode');
    expect(String(khoj.command)).toContain('--port=42110');
    expect(khoj.ports).toBeUndefined();
    for (const name of ['redis', 'khoj-db']) expect(services[name]?.ports, name).toBeUndefined();
    expect(services.portcullis?.ports).toEqual(['4180:4180']);
    expect(services.portcullis?.build).toBe('../..');
    expect(compose.networks.back?.internal).toBe(true);
    expect(services.redis?.networks).toEqual(['back']);
  });

  it('hands portcullis its config, secret and Redis through the names it reads', () => {
    const env = services.portcullis?.environment ?? {};
    expect(env.PORTCULLIS_CONFIG).toBe('/etc/portcullis/portcullis.yaml');
    expect(services.portcullis?.volumes).toContain(
      './portcullis.yaml:/etc/portcullis/portcullis.yaml:ro',
    );
    expect(env.REDIS_URL).toBe('redis://redis:6379/0');
    expect(env.PORTCULLIS_SECRET_KEY).toMatch(/^\$\{PORTCULLIS_SECRET_KEY:\?/);
  });

  it('has a portcullis.yaml that passes loadConfig, proxying to Khoj with Redis', () => {
    const config = loadConfig({
      path: CONFIG,
      env: {
        PORTCULLIS_SECRET_KEY: 'ab'.repeat(32),
        REDIS_URL: 'redis://redis:6379/0',
        PORTCULLIS_PUBLIC_URL: 'http://localhost:4180',
      },
    });
    expect(config.raw.proxy.upstream).toBe('http://khoj:42110');
    expect(config.raw.proxy.preserve_host).toBe(true);
    expect(config.raw.proxy.timeout).toBe(120_000);
    expect(config.raw.proxy.body_timeout).toBe(600_000);
    expect(config.raw.store.url).toBe('redis://redis:6379/0');
    expect(config.raw.anonymous_mode).toBe(false);
    expect(config.raw.access.default_policy).toBe('authenticated');
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 4180 });
    // The upstream's port is the one Khoj listens on in the compose file.
    expect(String(services.khoj?.command)).toContain(
      `--port=${new URL(config.raw.proxy.upstream ?? '').port}`,
    );
  });

  it("keeps portcullis' pages off every path Khoj or its clients use, and says nothing", () => {
    const config = loadConfig({
      path: CONFIG,
      env: { PORTCULLIS_SECRET_KEY: 'ab'.repeat(32), REDIS_URL: 'redis://redis:6379/0' },
    });
    const prefix = config.prefix;
    expect(prefix).toBe('/_portcullis');
    const under = (path: string, base: string) => path === base || path.startsWith(`${base}/`);
    for (const reserved of CLIENTS.server.path_prefixes) {
      expect(under(prefix, reserved) || under(reserved, prefix), reserved).toBe(false);
    }
    for (const request of CLIENTS.requests) {
      expect(under(request.path.split('?')[0] ?? '', prefix), request.path).toBe(false);
    }
    expect(config.warnings.filter((warning) => warning.includes('collides'))).toEqual([]);
  });

  it('lets the Obsidian origins through CORS, and takes app tokens', () => {
    const config = loadConfig({
      path: CONFIG,
      env: { PORTCULLIS_SECRET_KEY: 'ab'.repeat(32), REDIS_URL: 'redis://redis:6379/0' },
    });
    const obsidian = CLIENTS.requests.flatMap((request) =>
      request.origin?.includes('://') ? [request.origin] : [],
    );
    expect(obsidian).toContain('app://obsidian.md');
    expect([...config.raw.cors.allowed_origins].sort()).toEqual(
      ['app://obsidian.md', 'capacitor://localhost', 'http://localhost'].sort(),
    );
    expect(config.raw.tokens.enabled).toBe(true);
    // The admin can reach the panel (to give the `admins` group) without being in a group.
    expect(config.raw.admin.emails).toContain(String(services.khoj?.environment?.KHOJ_ADMIN_EMAIL));
  });

  it('ships an nginx.conf (TLS in front of portcullis) that nginx accepts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-khoj-nginx-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=khoj.example.com',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(made.status, made.stderr).toBe(0);
    const site = readFileSync(NGINX, 'utf8')
      .replace('/etc/letsencrypt/live/khoj.example.com/fullchain.pem', cert)
      .replace('/etc/letsencrypt/live/khoj.example.com/privkey.pem', key);
    writeFileSync(join(dir, 'site.conf'), site);
    writeFileSync(
      join(dir, 'nginx.conf'),
      `pid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'error.log')};\nevents {}\nhttp { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir}; include ${join(dir, 'site.conf')}; }\n`,
    );
    const result = spawnSync('nginx', ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status, `${result.stderr}${result.error ?? ''}`).toBe(0);
    expect(site).toContain('proxy_pass http://portcullis;');
  });

  it('lets no spelling of an identity header through to Khoj, from anyone', () => {
    // Khoj is Django: it reads `X_Auth_Request_User` and `X.Auth.Request.User` as the `-` name.
    const config = loadConfig({
      path: CONFIG,
      env: { PORTCULLIS_SECRET_KEY: 'ab'.repeat(32), REDIS_URL: 'redis://redis:6379/0' },
    });
    const policy = new RequestHeaderPolicy(config.raw.headers, config.raw.session.cookie_name);
    for (const family of identitySpellingFamilies()) {
      const raw = ['Host', 'localhost:4180', ...forgedHeaders(family.spellings), 'Accept', '*/*'];
      for (const trusted of [false, true]) {
        expect(scanRequestHeaders(raw, policy, trusted).headers, family.name).toEqual([
          'Accept',
          '*/*',
        ]);
      }
    }
  });

  it('refuses to start without the secret key (Redis keeps sessions)', () => {
    expect(() => loadConfig({ path: CONFIG, env: {} })).toThrow(/secret_key/);
  });
});
