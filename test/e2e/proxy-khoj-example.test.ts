import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { RequestHeaderPolicy, scanRequestHeaders } from '../../src/proxy/request-headers.js';
import { forgedHeaders, identitySpellingFamilies } from '../fixtures/identity-spellings.js';

const COMPOSE = fileURLToPath(new URL('../../examples/khoj/docker-compose.yml', import.meta.url));
const CONFIG = fileURLToPath(new URL('../../examples/khoj/portcullis.yaml', import.meta.url));

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
