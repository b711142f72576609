import { describe, expect, it } from 'vitest';
import { corpus, proxyHeaders, setsHeader } from '../fixtures/target-confusion.js';
import type { Check, Seen } from './dialect-cases.js';

/**
 * Target-source confusion (issue 10, item 1), from test/fixtures/target-confusion.json, written
 * once and run over two transports: real sockets (test/http/target-confusion.test.ts) and the
 * check pipeline in-process (test/unit/check-pipeline.test.ts). Each check endpoint reads only
 * the headers its proxy sets: nothing a client adds may open a protected request, and the
 * controls show the same requests, undisturbed, let through where the rules say so.
 */

/** The app both transports start for the corpus. */
export const TARGET_CONFUSION_CONFIG = {
  server: { public_url: 'https://auth.example.test' },
  access: {
    default_policy: 'authenticated',
    rules: [
      { host: 'public.example.test', policy: 'bypass' },
      { host: 'secret.example.test', path: '/api/health', methods: ['GET'], policy: 'bypass' },
      { host: 'secret.example.test', path: '/admin/**', policy: 'deny' },
    ],
  },
};

/** What a refusal may be: never a 2xx, never a failure. */
const REFUSED = ['bad_request', 'login', 'deny'];
/** The same, as a socket sees it (the reverse-proxy tests use it too). */
export const REFUSALS = [400, 401, 302, 303, 403];

/** A refused check: a refusal and no identity header. */
function expectRefused(seen: Seen, what: string): void {
  expect(REFUSED, what).toContain(seen.decision);
  if (seen.reply) expect(REFUSALS, what).toContain(seen.reply.status);
  expect([...seen.identity.keys()], what).toEqual([]);
}

/**
 * The corpus on every proxy, registered in the caller's `describe` (whose `beforeAll` starts
 * the app with TARGET_CONFUSION_CONFIG). `send` carries exactly the lines it is given, after
 * the transport's own `Connection: close` (as a raw socket writes it).
 */
export function targetConfusionTable(send: Check): void {
  /** A check as its proxy sends it; Accept makes Traefik-style endpoints answer a navigation. */
  const check = (path: string, lines: [string, string][]) =>
    send(path, [['Accept', 'text/html'], ...lines]);

  describe('controls', () => {
    for (const proxy of corpus.proxies) {
      it(`${proxy.name}: the bypass host and the GET-only bypass pass undisturbed`, async () => {
        for (const url of [
          'https://public.example.test/',
          'https://secret.example.test/api/health',
        ]) {
          const seen = await check(proxy.path, proxyHeaders(proxy, 'GET', url));
          expect(seen.decision, url).toBe('allow');
          if (seen.reply) expect([200, 202], url).toContain(seen.reply.status);
        }
        const protectedOne = await check(
          proxy.path,
          proxyHeaders(proxy, 'GET', 'https://secret.example.test/'),
        );
        expect(protectedOne.decision).toBe('login');
        if (protectedOne.reply) expect(REFUSALS).toContain(protectedOne.reply.status);
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
          for (const lines of [
            [...extra, ...base],
            [...base, ...extra],
          ]) {
            expectRefused(
              await check(proxy.path, lines),
              `${request.method} ${request.url} + ${JSON.stringify(extra)}`,
            );
          }
        }
      }
    });

    it(`${proxy.name}: a repeated header is never read as the allowed one`, async () => {
      for (const request of corpus.requests) {
        const base = proxyHeaders(proxy, request.method, request.url);
        for (const name of corpus.duplicates) {
          const copy: [string, string] = [name, corpus.duplicateValues[name] as string];
          for (const lines of [
            [copy, ...base],
            [...base, copy],
          ]) {
            expectRefused(
              await check(proxy.path, lines),
              `${request.method} ${request.url} + second ${name}`,
            );
          }
        }
      }
    });

    it(`${proxy.name}: without a method header, a GET-only bypass does not apply`, async () => {
      const base = proxyHeaders(proxy, 'POST', 'https://secret.example.test/api/health').filter(
        ([name]) => !/method/i.test(name),
      );
      expectRefused(await check(proxy.path, base), 'POST /api/health without a method header');
    });
  }
}
