import { request } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { type App, startApp } from '../../src/app.js';
import type { Config } from '../../src/config/derive.js';
import { loadConfig } from '../../src/config/load.js';
import type { Clock } from '../../src/core/clock.js';
import { TEST_SECRET, writeConfig } from './app.js';

export const CSRF = 'k'.repeat(43);

export type LogLine = Record<string, unknown> & { msg?: string; event?: string };

export interface LoggedApp extends App {
  /** Every log line so far, parsed. */
  logs: LogLine[];
  /** POST /auth/magic_link as a browser form would, with a valid CSRF pair. */
  askForLink(
    email: string,
    options?: {
      rd?: string;
      ip?: string;
      host?: string;
      csrf?: string | null;
      /** Extra headers, e.g. `Origin` / `Sec-Fetch-Site` to look like a browser. */
      headers?: Record<string, string>;
    },
  ): Promise<Response>;
  /** POST /auth/magic with the token from a link; 303 either way. */
  redeem(link: string, options?: { userAgent?: string }): Promise<Response>;
}

/**
 * Starts portcullis in-process with the test secret and info-level logs kept in memory (the log
 * mailer prints there); `listen: false` binds nothing (test/helpers/inject-app.ts).
 */
export async function startAppWithLogs(
  config: Record<string, unknown>,
  options: { env?: Record<string, string | undefined>; clock?: Clock },
  listen: { host: string; port: number } | false,
): Promise<{ app: App; loaded: Config; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      }
      callback();
    },
  });
  const auth = (config.auth as Record<string, unknown> | undefined) ?? {};
  const path = writeConfig({ ...config, auth: { secret_key: TEST_SECRET, ...auth } });
  const loaded = loadConfig({ path, env: options.env ?? {} });
  const app = await startApp(loaded, {
    clock: options.clock,
    logger: pino({ level: 'info' }, stream),
    listen,
  });
  return { app, loaded, logs };
}

/** Starts portcullis in-process with info-level logs kept in memory (the log mailer prints there). */
export async function startLoggedApp(
  config: Record<string, unknown>,
  options: { env?: Record<string, string | undefined>; clock?: Clock } = {},
): Promise<LoggedApp> {
  const { app, loaded, logs } = await startAppWithLogs(config, options, {
    host: '127.0.0.1',
    port: 0,
  });
  const prefix = loaded.prefix;
  return {
    ...app,
    logs,
    askForLink(email, opts = {}) {
      const csrf = opts.csrf === undefined ? CSRF : opts.csrf;
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        ...opts.headers,
      };
      if (csrf !== null) headers.cookie = `portcullis_csrf=${CSRF}`;
      if (opts.ip) headers['x-forwarded-for'] = opts.ip;
      const body = new URLSearchParams({ email, rd: opts.rd ?? '/' });
      if (csrf !== null) body.set('csrf', csrf);
      // fetch() replaces a Host header with the URL's; node:http sends what it is given.
      if (opts.host)
        return postRaw(
          `${app.url}${prefix}/magic_link`,
          { ...headers, host: opts.host },
          body.toString(),
        );
      return fetch(`${app.url}${prefix}/magic_link`, {
        method: 'POST',
        redirect: 'manual',
        headers,
        body: body.toString(),
      });
    },
    redeem(link, opts = {}) {
      const token = new URL(link).searchParams.get('token') ?? '';
      return fetch(`${app.url}${prefix}/magic`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `portcullis_csrf=${CSRF}`,
          'user-agent': opts.userAgent ?? 'vitest',
        },
        body: new URLSearchParams({ token, csrf: CSRF }).toString(),
      });
    },
  };
}

function postRaw(url: string, headers: Record<string, string>, body: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const out = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          out.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
        }
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: out }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The session cookie value a response sets, or null. */
export function sessionCookieOf(response: Response, name = 'portcullis_session'): string | null {
  const header = response.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  const value = header?.slice(name.length + 1).split(';')[0];
  return value ? value : null;
}
