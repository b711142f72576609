import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type Seen, seenInReply } from '../helpers/dialect-cases.js';
import { type EchoUpstream, startEchoUpstream } from '../helpers/echo-upstream.js';
import type { Reply } from '../helpers/proxy-scenarios.js';
import { rawGetStatus } from '../helpers/raw-request.js';
import {
  REFUSALS,
  TARGET_CONFUSION_CONFIG,
  targetConfusionTable,
} from '../helpers/target-confusion-cases.js';

/**
 * Target-source confusion (issue 10, item 1) over real sockets: the corpus of
 * test/helpers/target-confusion-cases.ts (also run in-process by
 * test/unit/check-pipeline.test.ts), written byte for byte so repeated and oddly spelled header
 * lines reach node's parser as a client sent them; and reverse-proxy mode, socket-only.
 */

/**
 * `GET path` on its own connection: `Connection: close`, then exactly these lines (repeats,
 * odd spellings, no Host unless given); the answer as read, header names lower-cased.
 */
async function rawCheck(port: number, path: string, lines: [string, string][]): Promise<Reply> {
  const socket = connect(port, '127.0.0.1');
  const head = [`GET ${path} HTTP/1.1`, 'Connection: close'];
  for (const [name, value] of lines) head.push(`${name}: ${value}`);
  socket.write(`${head.join('\r\n')}\r\n\r\n`);
  let raw = '';
  for await (const chunk of socket) raw += (chunk as Buffer).toString('latin1');
  const split = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...headerLines] = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string | string[]> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const seen = headers[name];
    headers[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
  return { status, headers, body: raw.slice(split + 4) };
}

describe('target-source confusion: every endpoint reads only its proxy’s headers', () => {
  let app: TestApp;
  let port: number;

  beforeAll(async () => {
    app = await startTestApp(TARGET_CONFUSION_CONFIG);
    port = Number(new URL(app.url).port);
  });

  afterAll(async () => {
    await app.close();
  });

  targetConfusionTable(
    async (path, lines): Promise<Seen> => seenInReply(await rawCheck(port, path, lines)),
  );
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
