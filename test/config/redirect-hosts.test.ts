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
