import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import PostalMime from 'postal-mime';
import { SMTPServer } from 'smtp-server';
import { waitFor } from './ports.js';

/** One mail as a recipient would see it. */
export interface CapturedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** The first `/magic?token=` link in the text part. */
  link: string | null;
}

export function linkIn(text: string): string | null {
  return /https?:\/\/\S+\/magic\?token=[A-Za-z0-9._~%-]+/.exec(text)?.[0] ?? null;
}

export interface ResendRequest {
  headers: IncomingHttpHeaders;
  body: {
    from: string;
    to: string[] | string;
    subject: string;
    text?: string;
    html?: string;
  };
}

export interface ResendServer {
  /** The base URL to give the SDK as `RESEND_BASE_URL`. */
  url: string;
  requests: ResendRequest[];
  /** The next `n` requests get this status and JSON body (Resend's error shape). */
  failNext(n: number, status: number, body: unknown): void;
  /** Adds this much latency to every answer (for timing tests). */
  setDelay(ms: number): void;
  /** The mail most recently accepted for `to`, as a CapturedMail. */
  lastTo(to: string): CapturedMail | null;
  waitForMailTo(to: string, count?: number): Promise<CapturedMail>;
  close(): Promise<void>;
}

/**
 * A local server speaking the part of Resend's HTTP API the SDK's `emails.send` uses:
 * `POST /emails` with a JSON body and `Authorization: Bearer <key>`, answering `{ "id": … }`.
 */
export async function startResendServer(): Promise<ResendServer> {
  const requests: ResendRequest[] = [];
  const accepted: ResendRequest[] = [];
  const failures: { status: number; body: unknown }[] = [];
  let delay = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (status: number, body: unknown) => {
        const data = Buffer.from(JSON.stringify(body));
        setTimeout(() => {
          res.writeHead(status, {
            'content-type': 'application/json',
            'content-length': String(data.length),
          });
          res.end(data);
        }, delay);
      };
      if (req.method !== 'POST' || req.url !== '/emails') {
        answer(404, {
          statusCode: 404,
          name: 'not_found',
          message: 'The requested endpoint does not exist.',
        });
        return;
      }
      let body: ResendRequest['body'];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ResendRequest['body'];
      } catch {
        answer(422, { statusCode: 422, name: 'validation_error', message: 'Invalid JSON' });
        return;
      }
      const request = { headers: req.headers, body };
      requests.push(request);
      const failure = failures.shift();
      if (failure) {
        answer(failure.status, failure.body);
        return;
      }
      if (!/^Bearer re_\w+$/.test(String(req.headers.authorization ?? ''))) {
        answer(401, {
          statusCode: 401,
          name: 'missing_api_key',
          message: 'Missing API key in the authorization header.',
        });
        return;
      }
      accepted.push(request);
      answer(200, { id: randomUUID() });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const toMail = (request: ResendRequest): CapturedMail => ({
    from: request.body.from,
    to: Array.isArray(request.body.to) ? request.body.to : [request.body.to],
    subject: request.body.subject,
    text: request.body.text ?? '',
    html: request.body.html ?? '',
    link: linkIn(request.body.text ?? ''),
  });
  const lastTo = (to: string) => {
    const found = accepted.filter((r) => toMail(r).to.includes(to)).at(-1);
    return found ? toMail(found) : null;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(n, status, body) {
      for (let i = 0; i < n; i++) failures.push({ status, body });
    },
    setDelay(ms) {
      delay = ms;
    },
    lastTo,
    async waitForMailTo(to, count = 1) {
      await waitFor(
        () => accepted.filter((r) => toMail(r).to.includes(to)).length >= count,
        10_000,
        `a Resend mail to ${to}`,
      );
      return lastTo(to) as CapturedMail;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface SmtpCapture {
  port: number;
  url: string;
  mails: CapturedMail[];
  /** Envelope logins seen (user names), when auth is required. */
  logins: string[];
  waitForMailTo(to: string, count?: number): Promise<CapturedMail>;
  close(): Promise<void>;
}

/**
 * A real SMTP server (the `smtp-server` package) that keeps every message it is given. With
 * `auth`, it demands those credentials (AUTH PLAIN/LOGIN over the plain connection).
 */
export async function startSmtpCapture(
  options: { auth?: { user: string; pass: string } } = {},
): Promise<SmtpCapture> {
  const mails: CapturedMail[] = [];
  const logins: string[] = [];
  const auth = options.auth;
  const server = new SMTPServer({
    disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !auth,
    allowInsecureAuth: true,
    logger: false,
    onAuth(login, _session, callback) {
      if (auth && login.username === auth.user && login.password === auth.pass) {
        logins.push(login.username);
        callback(null, { user: login.username });
      } else {
        callback(new Error('Invalid username or password'));
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        PostalMime.parse(Buffer.concat(chunks)).then(
          (parsed) => {
            const text = parsed.text ?? '';
            mails.push({
              from: parsed.from?.address
                ? `${parsed.from.name ? `${parsed.from.name} ` : ''}<${parsed.from.address}>`
                : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              subject: parsed.subject ?? '',
              text,
              html: parsed.html ?? '',
              link: linkIn(text),
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  const credentials = auth
    ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}@`
    : '';
  const lastTo = (to: string) => mails.filter((m) => m.to.includes(to)).at(-1) ?? null;
  return {
    port,
    url: `smtp://${credentials}127.0.0.1:${port}`,
    mails,
    logins,
    async waitForMailTo(to, count = 1) {
      await waitFor(
        () => mails.filter((m) => m.to.includes(to)).length >= count,
        10_000,
        `an SMTP mail to ${to}`,
      );
      return lastTo(to) as CapturedMail;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
