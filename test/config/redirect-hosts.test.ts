import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { safeRedirect } from '../../src/core/redirect.js';
import { writeConfig } from '../helpers/app.js';

function policyFor(hosts: string[]) {
  const path = writeConfig({
    access: { rules: hosts.map((host) => ({ host, policy: 'bypass', path: '/health' })) },
  });
  return loadConfig({ path, env: {} }).redirectPolicy;
}

describe('rule hosts as rd targets', () => {
  it('never turns a catch-all host glob into an open redirect', () => {
    const policy = policyFor(['*', '*.com', '*example.com']);
    for (const rd of [
      'https://evil.com/',
      'https://evil.example.com/',
      'https://badexample.com/',
    ]) {
      expect(safeRedirect(rd, policy)).toBe('/');
    }
  });

  it('honours globs anchored in a domain, at a dot boundary', () => {
    const policy = policyFor(['*.example.com', 'app-*.corp.example.org']);
    expect(safeRedirect('https://wiki.example.com/x', policy)).toBe('https://wiki.example.com/x');
    expect(safeRedirect('https://app-1.corp.example.org/', policy)).toBe(
      'https://app-1.corp.example.org/',
    );
    expect(safeRedirect('https://evilexample.com/', policy)).toBe('/');
    expect(safeRedirect('https://example.com.evil.com/', policy)).toBe('/');
  });
});

/**
 * `rd` on an allowed host is honoured only on a port the config names: public_url's (explicit)
 * or the default port of the rd's scheme (rule hosts and cookie_domain name none).
 */
describe('ports of rd targets', () => {
  function policy(publicUrl: string, cookieDomain: string | null = null) {
    const path = writeConfig({
      server: { public_url: publicUrl },
      session: { cookie_domain: cookieDomain },
      access: {
        rules: [{ host: ['app.example.com', '*.apps.example.org'], policy: 'authenticated' }],
      },
    });
    return loadConfig({ path, env: {} }).redirectPolicy;
  }

  const table: [string, string | null, string, boolean][] = [
    // public_url on the default port: every host on the default port only.
    ['https://auth.example.com', null, 'https://auth.example.com/x', true],
    ['https://auth.example.com', null, 'https://auth.example.com:443/x', true],
    ['https://auth.example.com', null, 'https://auth.example.com:8443/x', false],
    ['https://auth.example.com', null, 'https://app.example.com/', true],
    ['https://auth.example.com', null, 'http://app.example.com/', true],
    ['https://auth.example.com', null, 'https://app.example.com:8443/', false],
    ['https://auth.example.com', null, 'http://app.example.com:8080/', false],
    ['https://auth.example.com', null, 'https://app.example.com:80/', false],
    ['https://auth.example.com', null, 'https://x.apps.example.org:9443/', false],
    ['https://auth.example.com', null, 'https://x.apps.example.org/', true],
    ['https://auth.example.com:443', null, 'https://auth.example.com:8443/', false],
    // public_url names a port: that one too, for every host of the deployment.
    ['https://auth.example.com:8443', null, 'https://auth.example.com:8443/x', true],
    ['https://auth.example.com:8443', null, 'https://auth.example.com/x', true],
    ['https://auth.example.com:8443', null, 'https://auth.example.com:9443/x', false],
    ['https://auth.example.com:8443', null, 'https://app.example.com:8443/', true],
    ['https://auth.example.com:8443', null, 'https://app.example.com:8444/', false],
    ['http://127.0.0.1:4180', null, 'http://127.0.0.1:4180/notes', true],
    ['http://127.0.0.1:4180', null, 'http://127.0.0.1:4181/notes', false],
    ['http://127.0.0.1:4180', null, 'http://127.0.0.1:8080/', false],
    // cookie_domain hosts: the default port, or public_url's.
    ['https://auth.example.com', '.example.com', 'https://wiki.example.com/', true],
    ['https://auth.example.com', '.example.com', 'https://wiki.example.com:8443/', false],
    ['http://auth.example.com:8080', '.example.com', 'http://wiki.example.com:8080/', true],
    ['http://auth.example.com:8080', '.example.com', 'http://wiki.example.com:8081/', false],
  ];
  it.each(table)('public_url %s, cookie_domain %s: %s honoured: %s', (url, domain, rd, kept) => {
    expect(safeRedirect(rd, policy(url, domain))).toBe(kept ? rd : '/');
  });
});
