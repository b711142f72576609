import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpus, proxyHeaders, setsHeader } from '../fixtures/target-confusion.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import { rawGetStatus } from '../helpers/raw-request.js';

/**
 * Target-source confusion (issue 10, item 1), from test/fixtures/target-confusion.json: each
 * check endpoint reads only the headers its proxy sets. A client adds headers that the proxy
 * passes through (X-Original-URL behind Caddy, X-Forwarded-Host behind nginx, a method header
 * where the config sets none, the same header twice, other spellings); none of them may turn a
 * protected request into a 2xx. The controls show that the same requests, undisturbed, are let
 * through where the rules say so, so every "never 2xx" below can fail.
 */

/** A check as its proxy sends it; Accept makes Traefik-style endpoints answer a navigation. */
function rawCheck(port: number, path: string, headers: [string, string][]): Promise<number> {
  return rawGetStatus(port, path, [['Accept', 'text/html'], ...headers]);
}

const REFUSALS = [400, 401, 302, 303, 403];

describe('target-source confusion: every endpoint reads only its proxy’s headers', () => {
  let app: TestApp;
  let port: number;

  beforeAll(async () => {
    app = await startTestApp({
      server: { public_url: 'https://auth.example.test' },
      access: {
        default_policy: 'authenticated',
        rules: [
          { host: 'public.example.test', policy: 'bypass' },
          { host: 'secret.example.test', path: '/api/health', methods: ['GET'], policy: 'bypass' },
          { host: 'secret.example.test', path: '/admin/**', policy: 'deny' },
        ],
      },
    });
    port = Number(new URL(app.url).port);
  });

  afterAll(async () => {
    await app.close();
  });

  describe('controls', () => {
    for (const proxy of corpus.proxies) {
      it(`${proxy.name}: the bypass host and the GET-only bypass pass undisturbed`, async () => {
        for (const url of [
          'https://public.example.test/',
          'https://secret.example.test/api/health',
        ]) {
          const status = await rawCheck(port, proxy.path, proxyHeaders(proxy, 'GET', url));
          expect([200, 202], `${url}`).toContain(status);
        }
        const protectedStatus = await rawCheck(
          port,
          proxy.path,
          proxyHeaders(proxy, 'GET', 'https://secret.example.test/'),
        );
        expect(REFUSALS).toContain(protectedStatus);
      });
    }
  });

  for (const proxy of corpus.proxies) {
    it(`${proxy.name}: client-added headers never open a protected request`, async () => {
      for (const request of corpus.requests) {
        const base = proxyHeaders(proxy, request.method, request.url);
        for (const injection of corpus.injections) {
          const extra = Object.entries(injection).filter(([name]) => !setsHeader(proxy, name));
          // Before and after the proxy's own lines: some readers take the first, some the last.
          for (const headers of [
            [...extra, ...base],
            [...base, ...extra],
          ]) {
            const status = await rawCheck(port, proxy.path, headers);
            expect(
              REFUSALS,
              `${request.method} ${request.url} + ${JSON.stringify(extra)}`,
            ).toContain(status);
          }
        }
      }
    });

    it(`${proxy.name}: a repeated header is never read as the allowed one`, async () => {
      for (const request of corpus.requests) {
        const base = proxyHeaders(proxy, request.method, request.url);
        for (const name of corpus.duplicates) {
          const copy: [string, string] = [name, corpus.duplicateValues[name] as string];
          for (const headers of [
            [copy, ...base],
            [...base, copy],
          ]) {
            const status = await rawCheck(port, proxy.path, headers);
            expect(REFUSALS, `${request.method} ${request.url} + second ${name}`).toContain(status);
          }
        }
      }
    });

    it(`${proxy.name}: without a method header, a GET-only bypass does not apply`, async () => {
      const base = proxyHeaders(proxy, 'POST', 'https://secret.example.test/api/health').filter(
        ([name]) => !/method/i.test(name),
      );
      const status = await rawCheck(port, proxy.path, base);
      expect(REFUSALS).toContain(status);
    });
  }
});

describe('target-source confusion in reverse-proxy mode', () => {
  let app: TestApp;
  let upstream: EchoUpstream;
  let port: number;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({
      server: { public_url: 'https://auth.example.test' },
      access: {
        rules: [{ host: 'public.example.test', policy: 'bypass' }],
      },
      proxy: { upstream: upstream.url, preserve_host: true },
    });
    port = Number(new URL(app.url).port);
  });

  afterAll(async () => {
    await app.close();
    await upstream.close();
  });

  /** GET / as a trusted front proxy (loopback is trusted by default) passes it on. */
  function viaFront(headers: [string, string][]): Promise<number> {
    return rawGetStatus(port, '/', [['Accept', 'application/json'], ...headers]);
  }

  it('control: the bypass host reaches the app, the protected one does not', async () => {
    expect(await viaFront([['Host', 'public.example.test']])).toBe(200);
    expect(REFUSALS).toContain(await viaFront([['Host', 'secret.example.test']]));
  });

  const attempts: [string, [string, string][]][] = [
    ['X-Forwarded-Host naming the bypass host', [['X-Forwarded-Host', 'public.example.test']]],
    ['X-Forwarded-Host in another case', [['x-forwarded-host', 'PUBLIC.EXAMPLE.TEST']]],
    ['a second Host', [['Host', 'public.example.test']]],
    ['X-Original-URL', [['X-Original-URL', 'https://public.example.test/']]],
    ['Forwarded: host=', [['Forwarded', 'host=public.example.test']]],
    ['X-Forwarded-Host with a port', [['X-Forwarded-Host', 'public.example.test:443']]],
  ];
  for (const [name, extra] of attempts) {
    it(`${name} never opens the protected host, and the app never sees it`, async () => {
      for (const headers of [
        [['Host', 'secret.example.test'], ...extra] as [string, string][],
        [...extra, ['Host', 'secret.example.test']] as [string, string][],
      ]) {
        const before = upstream.requests.length;
        const status = await viaFront(headers);
        expect(REFUSALS, JSON.stringify(headers)).toContain(status);
        expect(upstream.requests.slice(before)).toEqual([]);
      }
    });
  }
});
