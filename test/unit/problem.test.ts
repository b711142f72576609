import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode, PortcullisError } from '../../src/core/errors.js';
import { CONTENT_SECURITY_POLICY } from '../../src/html.js';
import { sendProblem } from '../../src/http/pages.js';
import {
  answerProblem,
  type ProblemFormat,
  pageChrome,
  problemFormat,
  rawAnswer,
  renderProblem,
  sendError,
} from '../../src/http/problem.js';
import { createLogger } from '../../src/logger.js';
import { StoreUnavailableError } from '../../src/ports/store.js';
import { upstreamError } from '../../src/proxy/upstream-failure.js';
import { ERROR_SCHEMA, ScimError, type ScimStatus } from '../../src/scim/errors.js';

/**
 * The one error mapper (src/http/problem.ts), in-process: every code of the closed set, asked
 * for by a person, an API client, a HEAD and a SCIM client, gets one exact answer.
 */
interface RequestCase {
  name: string;
  method: string;
  url: string;
  accept?: string;
  format: ProblemFormat;
}
const table = JSON.parse(
  readFileSync(new URL('../fixtures/problem.json', import.meta.url), 'utf8'),
) as {
  statuses: Record<string, number>;
  retryAfter: Record<string, string>;
  requests: RequestCase[];
};

const chrome = pageChrome({ prefix: '/_auth', productName: 'Portcullis', hasLogo: false });
const deps = { chrome, logger: createLogger('silent') };

/** A detail that must stay in the log: it looks like a stack frame and a secret. */
const DETAIL = 'SECRET-DETAIL at handler (/srv/src/http/x.ts:12:5)';

interface Recorded {
  status: number;
  headers: Map<string, string[]>;
  raw: string[];
  body: string;
  destroyed: boolean;
}

function fakeRequest(c: {
  method: string;
  url: string;
  accept?: string;
  headers?: Record<string, string>;
}) {
  return {
    method: c.method,
    url: c.url,
    headers: { ...(c.accept ? { accept: c.accept } : {}), ...c.headers },
    complete: true,
  } as unknown as IncomingMessage;
}

function fakeResponse(req: IncomingMessage): { res: ServerResponse; out: Recorded } {
  const out: Recorded = { status: 0, headers: new Map(), raw: [], body: '', destroyed: false };
  const res = {
    req,
    headersSent: false,
    shouldKeepAlive: true,
    writeHead(status: number, headers: string[]) {
      out.status = status;
      out.raw = [...headers];
      for (let i = 0; i < headers.length; i += 2) {
        const name = (headers[i] as string).toLowerCase();
        out.headers.set(name, [...(out.headers.get(name) ?? []), headers[i + 1] as string]);
      }
      this.headersSent = true;
      return this;
    },
    end(body?: Buffer) {
      out.body = body ? body.toString('utf8') : '';
    },
    destroy() {
      out.destroyed = true;
    },
  };
  return { res: res as unknown as ServerResponse, out };
}

function one(out: Recorded, name: string): string | undefined {
  const values = out.headers.get(name);
  expect(values?.length ?? 0, `${name} at most once`).toBeLessThanOrEqual(1);
  return values?.[0];
}

const CONTENT_TYPE: Record<ProblemFormat, string | undefined> = {
  json: 'application/json; charset=utf-8',
  page: 'text/html; charset=utf-8',
  scim: 'application/scim+json; charset=utf-8',
  empty: undefined,
};

const cases = ERROR_CODES.flatMap((code) =>
  table.requests.map((request) => ({ code, request, label: `${code} × ${request.name}` })),
);

describe('the closed set', () => {
  it('is exactly the table: every code and its status', () => {
    expect(Object.fromEntries(ERROR_CODES.map((c) => [c, new PortcullisError(c).status]))).toEqual(
      table.statuses,
    );
  });

  it.each(Object.keys(table.statuses))('%s has a public message that is not its code', (code) => {
    const error = new PortcullisError(code as ErrorCode);
    expect(error.publicMessage.length).toBeGreaterThan(10);
    expect(error.publicMessage).not.toBe(code);
  });

  it.each([400, 401, 404, 405, 409, 413, 429, 500, 503] as ScimStatus[])(
    'ScimError(%i) keeps its status and is a PortcullisError',
    (status) => {
      const error = new ScimError(status, 'detail for the client');
      expect(error).toBeInstanceOf(PortcullisError);
      expect(error.status).toBe(status);
      expect(error.detail).toBe('detail for the client');
    },
  );

  it.each([
    [502, 'upstream_unavailable'],
    [504, 'upstream_timeout'],
  ] as const)('an upstream failure %i is %s', (status, code) => {
    const error = upstreamError({ status, reason: 'ECONNREFUSED' });
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
  });
});

describe('answerProblem: code × Accept × HEAD × SCIM path', () => {
  it.each(cases)('$label', ({ code, request }) => {
    const req = fakeRequest(request);
    expect(problemFormat(req)).toBe(request.format);
    const { res, out } = fakeResponse(req);
    answerProblem(chrome, req, res, new PortcullisError(code, DETAIL));

    const status = table.statuses[code] as number;
    expect(out.status).toBe(status);
    expect(out.status).toBeGreaterThanOrEqual(400);
    expect(one(out, 'content-type')).toBe(CONTENT_TYPE[request.format]);
    expect(one(out, 'cache-control')).toBe('no-store');
    expect(one(out, 'retry-after')).toBe(table.retryAfter[code]);

    const full = renderProblem(new PortcullisError(code, DETAIL), request.format, chrome);
    expect(one(out, 'content-length')).toBe(String(Buffer.byteLength(full.body)));
    if (request.method === 'HEAD') {
      expect(out.body).toBe('');
      return;
    }
    expect(out.body).toBe(full.body);
    // The detail is for the log only; nothing that looks like a stack leaves the process.
    expect(out.body).not.toContain('SECRET-DETAIL');
    expect(out.body).not.toMatch(/\bat .*\.[jt]s:\d+/);
    expect(out.raw.join('\n')).not.toContain('SECRET-DETAIL');

    const message = new PortcullisError(code).publicMessage;
    if (request.format === 'json') {
      expect(JSON.parse(out.body)).toEqual({ error: code, message });
      expect(out.headers.has('content-security-policy')).toBe(false);
    } else if (request.format === 'scim') {
      const body = JSON.parse(out.body) as Record<string, unknown>;
      expect(body).toEqual({
        schemas: [ERROR_SCHEMA],
        status: String(status),
        ...(status === 400 ? { scimType: 'invalidSyntax' } : {}),
        detail: message,
      });
      expect(one(out, 'x-content-type-options')).toBe('nosniff');
      expect(one(out, 'connection')).toBe(status === 413 ? 'close' : undefined);
    } else {
      expect(one(out, 'content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(one(out, 'x-frame-options')).toBe('DENY');
      expect(one(out, 'x-content-type-options')).toBe('nosniff');
      expect(one(out, 'referrer-policy')).toBe('no-referrer');
      expect(out.body).toMatch(/^<!doctype html>/);
      expect(out.body).toContain('<p class="message error" role="alert">');
      const heading =
        code === 'headers_too_large'
          ? 'Request too large'
          : status === 403
            ? 'Not allowed'
            : status === 404
              ? 'Not found'
              : 'Something went wrong';
      expect(out.body).toContain(`<h1>${heading}</h1>`);
      // The sign-in page would get the same oversized cookies: no link to it on a 431.
      expect(out.body.includes('href="/_auth/login"')).toBe(code !== 'headers_too_large');
    }
  });
});

describe('what the mapper is handed', () => {
  const hostile = '<script>alert(1)</script>&"\'';

  it('escapes a public message on the page, and JSON-encodes it', () => {
    const error = new PortcullisError('bad_request', DETAIL, hostile);
    const page = renderProblem(error, 'page', chrome);
    expect(page.body).not.toContain('<script>');
    expect(page.body).toContain('&lt;script&gt;');
    expect(JSON.parse(renderProblem(error, 'json', chrome).body).message).toBe(hostile);
  });

  it('carries a ScimError’s scimType and detail into the envelope', () => {
    const body = JSON.parse(
      renderProblem(new ScimError(409, 'userName taken', 'uniqueness'), 'scim', chrome).body,
    );
    expect(body).toEqual({
      schemas: [ERROR_SCHEMA],
      status: '409',
      scimType: 'uniqueness',
      detail: 'userName taken',
    });
  });

  it('puts extra headers (WWW-Authenticate) before its own, once each', () => {
    const req = fakeRequest({ method: 'GET', url: '/scim/v2/Users' });
    const { res, out } = fakeResponse(req);
    answerProblem(chrome, req, res, new ScimError(401, 'credentials'), [
      'WWW-Authenticate',
      'Basic',
    ]);
    expect(out.status).toBe(401);
    expect(out.raw.slice(0, 2)).toEqual(['WWW-Authenticate', 'Basic']);
    expect(one(out, 'cache-control')).toBe('no-store');
  });

  it.each([
    ['an unknown fault', new Error(DETAIL), 500, undefined],
    ['a store outage', new StoreUnavailableError(new Error(DETAIL)), 503, '1'],
    ['a thrown string', DETAIL, 500, undefined],
    ['undefined', undefined, 500, undefined],
  ])('sendError: %s → %i, detail not shown', (_name, thrown, status, retry) => {
    const req = fakeRequest({ method: 'GET', url: '/x', accept: 'application/json' });
    const { res, out } = fakeResponse(req);
    sendError(deps, req, res, thrown);
    expect(out.status).toBe(status);
    expect(one(out, 'retry-after')).toBe(retry);
    expect(out.body).not.toContain('SECRET-DETAIL');
    expect(JSON.parse(out.body).error).toBe(status === 503 ? 'store_unavailable' : 'internal');
  });

  it('sendError after the headers went out cuts the connection instead of a second answer', () => {
    const req = fakeRequest({ method: 'GET', url: '/x' });
    const { res, out } = fakeResponse(req);
    (res as { headersSent: boolean }).headersSent = true;
    sendError(deps, req, res, new PortcullisError('internal'));
    expect(out.destroyed).toBe(true);
    expect(out.status).toBe(0);
  });

  it('sendError on an unread body says the connection will close', () => {
    const req = fakeRequest({
      method: 'POST',
      url: '/x',
      headers: { 'content-length': '10' },
    });
    (req as { complete: boolean }).complete = false;
    const { res } = fakeResponse(req);
    sendError(deps, req, res, new PortcullisError('payload_too_large'));
    expect(res.shouldKeepAlive).toBe(false);
  });
});

describe('sendProblem, the older call shape', () => {
  it.each([
    [400, 'bad_request', [], 400, 'bad_request', undefined],
    [403, 'forbidden', [], 403, 'forbidden', undefined],
    [502, 'upstream_unavailable', [], 502, 'upstream_unavailable', undefined],
    [504, 'upstream_timeout', [], 504, 'upstream_timeout', undefined],
    [503, 'store_unavailable', ['Retry-After', '1'], 503, 'store_unavailable', '1'],
    // The caller's headers decide: no Retry-After given, none sent.
    [503, 'store_unavailable', [], 503, 'store_unavailable', undefined],
    [500, 'internal', [], 500, 'internal', undefined],
    // Outside the closed set, or a status the code does not have: the status stands when the
    // set has it, and is a 500 otherwise.
    [418, 'teapot', [], 500, 'internal', undefined],
    [503, 'made_up', [], 503, 'store_unavailable', undefined],
    [404, 'bad_request', [], 404, 'not_found', undefined],
  ] as const)('(%i, %s, %j) → %i %s', (status, code, headers, wantStatus, wantCode, retry) => {
    const req = fakeRequest({ method: 'GET', url: '/app', accept: 'application/json' });
    const { res, out } = fakeResponse(req);
    sendProblem(chrome, req, res, status, code, 'the message', [...headers]);
    expect(out.status).toBe(wantStatus);
    expect(one(out, 'retry-after')).toBe(retry);
    expect(JSON.parse(out.body)).toEqual({ error: wantCode, message: 'the message' });
  });
});

describe('rawAnswer: for sockets without a response object', () => {
  it.each(['json', 'page', 'scim', 'empty'] as const)('%s: one whole HTTP/1.1 answer', (format) => {
    const error = new PortcullisError('headers_too_large', DETAIL, 'Too big (8 KB).');
    const text = rawAnswer(renderProblem(error, format, chrome));
    const [head, body] = text.split('\r\n\r\n', 2) as [string, string];
    const lines = head.split('\r\n');
    expect(lines[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(lines).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
    expect(lines.filter((l) => l.toLowerCase().startsWith('connection:'))).toEqual([
      'Connection: close',
    ]);
    expect(lines).toContain('Cache-Control: no-store');
    expect(text).not.toContain('SECRET-DETAIL');
    if (format === 'empty') expect(body).toBe('');
    else expect(lines).toContain(`Content-Type: ${CONTENT_TYPE[format]}`);
  });

  it('a draining refusal says when to come back', () => {
    const text = rawAnswer(renderProblem(new PortcullisError('shutting_down'), 'empty', chrome));
    expect(text).toBe(
      'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nCache-Control: no-store\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
  });
});
