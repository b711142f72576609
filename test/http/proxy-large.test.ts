import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  type EchoUpstream,
  patternBlock,
  patternHash,
  startEchoUpstream,
} from '../helpers/echo-upstream.js';

const MB = 1024 * 1024;
// 200 MB streamed each way checks constant memory without making CI slow (a buffering proxy
// would hold all of it at once).
const TOTAL = 200 * MB;
const MAX_GROWTH = 96 * MB;

/** Samples RSS while `work` runs; returns its result and the largest growth seen. */
async function watchMemory<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  try {
    const result = await work();
    return { result, growth: peak - start };
  } finally {
    clearInterval(timer);
  }
}

describe('reverse proxy: large and slow bodies', () => {
  let upstream: EchoUpstream;
  let app: TestApp;
  let cookie: string;
  let port: string;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    app = await startTestApp({
      proxy: { upstream: upstream.url, timeout: '1s', body_timeout: '1s' },
    });
    cookie = await app.login('big@example.com');
    port = new URL(app.url).port;
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
  });

  /** Uploads with a generator of chunks; resolves with the echo's answer or the error. */
  function upload(
    chunks: AsyncIterable<Buffer>,
    headers: string[],
  ): Promise<{ status: number; body: string } | { error: string }> {
    return new Promise((resolve) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/upload',
          method: 'POST',
          headers: ['Host', 'app.test', 'Cookie', `portcullis_session=${cookie}`, ...headers],
          setHost: false,
          agent: false,
        },
        (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', (e) => resolve({ error: e.message }));
        },
      );
      req.on('error', (e) => resolve({ error: e.message }));
      (async () => {
        for await (const chunk of chunks) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch((e: Error) => resolve({ error: e.message }));
    });
  }

  async function* pattern(bytes: number): AsyncIterable<Buffer> {
    let left = bytes;
    for (let i = 0; left > 0; i++) {
      const block = patternBlock(i);
      const part = left >= block.length ? block : block.subarray(0, left);
      left -= part.length;
      yield part;
    }
  }

  // An upload's silences and the wait after it run on the injected clock:
  // test/http/proxy-deadlines.test.ts.

  it('streams a 200 MB upload through with constant memory, byte for byte', async () => {
    const expected = patternHash(TOTAL);
    const { result, growth } = await watchMemory(() =>
      upload(pattern(TOTAL), [
        'Content-Length',
        String(TOTAL),
        'Content-Type',
        'application/octet-stream',
      ]),
    );
    expect(result).toMatchObject({ status: 200 });
    const echo = JSON.parse((result as { body: string }).body) as { bytes: number; sha256: string };
    expect(echo.bytes).toBe(TOTAL);
    expect(echo.sha256).toBe(expected);
    expect(growth).toBeLessThan(MAX_GROWTH);
  });

  it('streams a 200 MB download through with constant memory, byte for byte', async () => {
    const expected = patternHash(TOTAL);
    const { result, growth } = await watchMemory(
      () =>
        new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
          const req = httpRequest(
            {
              host: '127.0.0.1',
              port,
              path: `/stream-pattern?bytes=${TOTAL}&tag=download`,
              headers: ['Host', 'app.test', 'Cookie', `portcullis_session=${cookie}`],
              setHost: false,
              agent: false,
            },
            (res) => {
              const hash = createHash('sha256');
              let bytes = 0;
              res.on('data', (c: Buffer) => {
                hash.update(c);
                bytes += c.length;
              });
              res.on('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
              res.on('error', reject);
            },
          );
          req.on('error', reject);
          req.end();
        }),
    );
    expect(result.bytes).toBe(TOTAL);
    expect(result.sha256).toBe(expected);
    expect(growth).toBeLessThan(MAX_GROWTH);
  });
});
