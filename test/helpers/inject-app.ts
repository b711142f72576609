import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { inject } from 'light-my-request';
import type { App } from '../../src/app.js';
import type { Clock } from '../../src/core/clock.js';
import { CSRF, type LogLine, startAppWithLogs } from './mail-app.js';

/**
 * portcullis without a listening socket: the app is built as for production (`startApp`, every
 * real component, `listen: false`) and each request is handed to the server's 'request'
 * listener by light-my-request. Same routes, same handlers, same answers; what is not exercised
 * is node's HTTP parser and the socket limits (header size, timeouts, connection counts): those
 * stay with the socket tests under test/http/.
 */

/** One request, sent exactly as given (light-my-request adds only Host, User-Agent and Content-Length when absent). */
export interface InjectRequest {
  method?: string;
  /** Path and query, e.g. `/auth/login?rd=%2F`. */
  path: string;
  /** An array value is one header line per entry (two `Cookie` lines, say), as on the wire. */
  headers?: Record<string, string | string[]>;
  body?: string;
  /** The peer address the app sees (trusted_proxies decisions); 127.0.0.1 as in the socket tests. */
  remoteAddress?: string;
}

export interface InjectedApp extends App {
  /** Every log line so far, parsed (the `log` mailer prints links there). */
  logs: LogLine[];
  /** Hands one request to the app in-process; the answer as a fetch `Response` (redirects not followed). */
  request(request: InjectRequest): Promise<Response>;
  /** POST /auth/magic_link as a browser form would, with a valid CSRF pair. */
  askForLink(email: string, options?: { rd?: string; ip?: string }): Promise<Response>;
  /** POST /auth/magic with the token from a link; 303 either way. */
  redeem(link: string): Promise<Response>;
  /** Signs `email` in through a freshly issued link; returns the session cookie value. */
  login(email: string): Promise<string>;
  /** What one of our pages hands a client for its forms (see test/helpers/form-token.ts). */
  formToken(cookie?: string, path?: string): Promise<{ token: string; cookie: string }>;
}

/**
 * A socket's worth of what the server's request path touches beyond the request itself: the
 * body watcher reads `socket.bytesRead`, the early-answer path calls `destroySoon` unless the
 * request is `complete`. light-my-request's mock socket has neither.
 */
function socketless(listener: RequestListener): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as IncomingMessage['socket'] & { bytesRead?: number };
    if (socket.bytesRead === undefined) Object.assign(socket, { bytesRead: 0 });
    if (typeof socket.destroySoon !== 'function') Object.assign(socket, { destroySoon() {} });
    req.once('end', () => {
      req.complete = true;
    });
    listener(req, res);
  };
}

/** Sends `request` to `listener` and converts light-my-request's answer to a fetch `Response`. */
export async function injectRequest(
  listener: RequestListener,
  request: InjectRequest,
): Promise<Response> {
  const reply = await inject(socketless(listener), {
    method: (request.method ?? 'GET') as 'GET',
    url: request.path,
    headers: request.headers ?? {},
    payload: request.body,
    remoteAddress: request.remoteAddress ?? '127.0.0.1',
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(reply.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, String(one));
  }
  const empty = [101, 103, 204, 205, 304].includes(reply.statusCode);
  return new Response(empty ? null : reply.rawPayload, { status: reply.statusCode, headers });
}

/** The app's request handler: the one 'request' listener `createHttpServer` installs. */
export function requestListener(app: App): RequestListener {
  const [listener] = app.server.listeners('request') as RequestListener[];
  if (!listener) throw new Error('the server has no request listener');
  return listener;
}

/** Starts portcullis in-process without listening, with info logs kept in memory. */
export async function startInjectedApp(
  config: Record<string, unknown>,
  options: { env?: Record<string, string | undefined>; clock?: Clock } = {},
): Promise<InjectedApp> {
  const { app, loaded, logs } = await startAppWithLogs(config, options, false);
  const listener = requestListener(app);
  const prefix = loaded.prefix;
  const cookieName = loaded.raw.session.cookie_name;
  const request = (req: InjectRequest) => injectRequest(listener, req);
  const redeem = (link: string) => {
    const token = new URL(link).searchParams.get('token') ?? '';
    return request({
      method: 'POST',
      path: `${prefix}/magic`,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_csrf=${CSRF}`,
        'user-agent': 'vitest',
      },
      body: new URLSearchParams({ token, csrf: CSRF }).toString(),
    });
  };
  return {
    ...app,
    logs,
    request,
    redeem,
    askForLink(email, opts = {}) {
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_csrf=${CSRF}`,
      };
      if (opts.ip) headers['x-forwarded-for'] = opts.ip;
      const body = new URLSearchParams({ email, rd: opts.rd ?? '/', csrf: CSRF });
      return request({
        method: 'POST',
        path: `${prefix}/magic_link`,
        headers,
        body: body.toString(),
      });
    },
    async login(email) {
      const answer = await redeem(await app.ctx.loginLinks.issue(email, '/'));
      const value = cookieValue(answer, cookieName);
      if (!value) throw new Error(`login failed: ${answer.status}`);
      return value;
    },
    async formToken(cookie = '', formPath = `${prefix}/logout`) {
      const answer = await request({ path: formPath, headers: cookie ? { cookie } : {} });
      const match = /name="csrf" value="([A-Za-z0-9_-]{43})"/.exec(await answer.text());
      if (!match) throw new Error(`no csrf field on ${formPath}: ${answer.status}`);
      // `portcullis_csrf`, or `__Host-portcullis_csrf` when public_url is https.
      const set = answer.headers
        .getSetCookie()
        .map((line) => line.split(';')[0] as string)
        .filter((pair) => pair.includes('portcullis_csrf='));
      return { token: match[1] as string, cookie: [cookie, ...set].filter(Boolean).join('; ') };
    },
  };
}

/** The value a response's Set-Cookie gives `name` (empty when it clears it), or null when it sets none. */
export function cookieValue(response: Response, name: string): string | null {
  const line = response.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  return line === undefined ? null : (line.slice(name.length + 1).split(';')[0] as string);
}

/**
 * A browser's cookies for one site, reduced to what the tests need: names and values from each
 * answer's Set-Cookie (an empty value or Max-Age=0 removes the cookie), sent back as one header.
 * Domain and Path are not modelled: every cookie goes with every request.
 */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Records what `response` sets or clears. */
  take(response: Response): this {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
      if (value === '' || expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return this;
  }

  set(name: string, value: string): this {
    this.cookies.set(name, value);
    return this;
  }

  get(name: string): string | null {
    return this.cookies.get(name) ?? null;
  }

  /** The Cookie header a browser would send (empty when the jar is). */
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}
