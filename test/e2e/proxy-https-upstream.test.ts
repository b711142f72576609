import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, type ServerCert, type TestCa } from '../helpers/pki.js';
import { waitFor } from '../helpers/ports.js';
import {
  type PortcullisProcess,
  redeemLoginLink,
  runCli,
  startPortcullis,
} from '../helpers/process.js';

/**
 * An `https://` `proxy.upstream` through the real binary (src/proxy/connector.ts): TLS with the
 * system trust store plus NODE_EXTRA_CA_CERTS, ALPN http/1.1, SNI for a host name and none for
 * an IP literal, and verification on (a certificate from another CA, or for another name, is a
 * 502, and portcullis carries on). The upstreams are node:https servers whose certificates a
 * throwaway CA made with `openssl` signed.
 */

const EMAIL = 'tls-user@example.com';

/** What the upstream saw of one request, as it answers it. */
interface Seen {
  path: string;
  /** The SNI name the client sent; null when it sent none. */
  servername: string | null;
  alpn: string | null;
  remoteUser: string | null;
}

/** One TLS handshake the upstream completed. */
interface Handshake {
  /** The ALPN protocols the client offered, in its order. */
  offered: string[];
  servername: string | null;
}

interface TlsUpstream {
  port: number;
  requests: Seen[];
  handshakes: Handshake[];
  /** Handshakes that failed (the client's alert, e.g. `unknown ca`, as Node reports it). */
  handshakeErrors: string[];
  /** Connections that resumed an earlier TLS session instead of a full handshake. */
  readonly resumed: number;
  /** Serves `credentials` on new connections from now on. */
  use(credentials: ServerCert): void;
  close(): Promise<void>;
}

async function startTlsUpstream(credentials: ServerCert): Promise<TlsUpstream> {
  const requests: Seen[] = [];
  const handshakes: Handshake[] = [];
  const handshakeErrors: string[] = [];
  const server: Server = createServer({
    ...credentials,
    // Records what the client offered; picks http/1.1 only when it is offered (no ALPN: none).
    ALPNCallback: ({ servername, protocols }) => {
      handshakes.push({ offered: [...protocols], servername: servername || null });
      return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
    },
  });
  server.on('tlsClientError', (error: Error) => {
    handshakeErrors.push(error.message);
  });
  let resumed = 0;
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.isSessionReused()) resumed++;
  });
  server.on('request', (req, res) => {
    const socket = req.socket as TLSSocket;
    const remoteUser = req.headers['remote-user'];
    const seen: Seen = {
      path: req.url ?? '',
      servername: typeof socket.servername === 'string' ? socket.servername : null,
      alpn: socket.alpnProtocol || null,
      remoteUser: typeof remoteUser === 'string' ? remoteUser : null,
    };
    requests.push(seen);
    const body = JSON.stringify(seen);
    if (seen.path === '/hold') {
      // Held a moment, so requests sent together need connections of their own.
      setTimeout(() => res.writeHead(200, { 'content-length': 2 }).end('ok'), 150);
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    handshakes,
    handshakeErrors,
    get resumed() {
      return resumed;
    },
    use: (next) => server.setSecureContext(next),
    close: async () => {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Portcullis in proxy mode in front of `upstream`, trusting `ca`, with one person signed in. */
interface Front {
  pc: PortcullisProcess;
  /** `portcullis_session=…` for EMAIL. */
  cookie: string;
  /** EMAIL's username, as /auth/me names it: what Remote-User must carry. */
  username: string;
}

async function startFront(upstream: string, ca: TestCa): Promise<Front> {
  const pc = await startPortcullis(
    {
      auth: { enabled_auth: ['magic_link'], magic_link: { mailer: 'log' } },
      store: { url: 'memory://' },
      proxy: { upstream },
    },
    { env: { NODE_EXTRA_CA_CERTS: ca.caFile } },
  );
  try {
    // bench/lib.mjs signIn: a one-time link from the CLI, redeemed on the running server.
    const cli = await runCli(['login-url', EMAIL, '--rd', '/', '--config', pc.configPath]);
    if (cli.code !== 0) throw new Error(`login-url failed (${cli.code}): ${cli.stderr}`);
    const link = cli.stdout.trim().split('\n').pop() ?? '';
    const cookie = `portcullis_session=${await redeemLoginLink(pc.url, link)}`;
    const me = await fetch(`${pc.url}/auth/me`, {
      headers: { cookie, accept: 'application/json' },
    });
    const { username } = (await me.json()) as { username?: unknown };
    if (me.status !== 200 || typeof username !== 'string' || username === '') {
      throw new Error(`/auth/me after sign-in: ${me.status} username ${String(username)}`);
    }
    return { pc, cookie, username };
  } catch (error) {
    await pc.stop(1000);
    throw error;
  }
}

function get(front: Front, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${front.pc.url}${path}`, {
    redirect: 'manual',
    headers: { cookie: front.cookie, ...headers },
  });
}

let trusted: TestCa;
let stranger: TestCa;
const upstreams: TlsUpstream[] = [];
const fronts: Front[] = [];

/** Serves a certificate `trusted` signed for localhost and 127.0.0.1. */
let good: TlsUpstream;
/** Starts with a bad certificate; the failure tests swap it (setSecureContext). */
let swapping: TlsUpstream;
let byName: Front;
let byIp: Front;
let toSwapping: Front;
let goodCert: ServerCert;

beforeAll(async () => {
  trusted = makeCa('Portcullis Test Upstream CA');
  stranger = makeCa('Someone Else CA');
  goodCert = trusted.issue(['DNS:localhost', 'IP:127.0.0.1']);
  upstreams.push(
    ...(await Promise.all([
      startTlsUpstream(goodCert),
      startTlsUpstream(stranger.issue(['DNS:localhost', 'IP:127.0.0.1'])),
    ])),
  );
  [good, swapping] = upstreams as [TlsUpstream, TlsUpstream];
  const started = await Promise.allSettled([
    startFront(`https://localhost:${good.port}`, trusted),
    startFront(`https://127.0.0.1:${good.port}`, trusted),
    startFront(`https://localhost:${swapping.port}`, trusted),
  ]);
  for (const result of started) if (result.status === 'fulfilled') fronts.push(result.value);
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  [byName, byIp, toSwapping] = fronts as [Front, Front, Front];
});

afterAll(async () => {
  await Promise.all(fronts.map((front) => front.pc.stop()));
  await Promise.all(upstreams.map((upstream) => upstream.close()));
  trusted?.remove();
  stranger?.remove();
});

describe('proxy.upstream https://localhost:PORT (a host name)', () => {
  it('forwards a signed-in request over TLS with SNI localhost and ALPN http/1.1', async () => {
    const before = good.requests.length;
    // A client-sent Remote-User must not reach the upstream: portcullis sets its own.
    const response = await get(byName, '/hello', { 'remote-user': 'mallory' });
    expect(response.status, byName.pc.output()).toBe(200);
    const answer = (await response.json()) as Seen;
    expect(answer).toEqual({
      path: '/hello',
      servername: 'localhost',
      alpn: 'http/1.1',
      remoteUser: byName.username,
    });
    expect(good.requests.slice(before)).toEqual([answer]);
    // Every handshake portcullis made offered exactly http/1.1 and named localhost.
    const byNameHandshakes = good.handshakes.filter((h) => h.servername === 'localhost');
    expect(byNameHandshakes.length).toBeGreaterThan(0);
    for (const handshake of byNameHandshakes) expect(handshake.offered).toEqual(['http/1.1']);
  });

  it('names the upstream in SNI whatever Host the client sent (preserve_host)', async () => {
    // fetch cannot set Host; node:http can. portcullis passes this Host on (preserve_host).
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${byName.pc.url}/named`, {
        headers: { host: 'portal.example.test', cookie: byName.cookie },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status, byName.pc.output().slice(-2000)).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ path: '/named', servername: 'localhost' });
  });

  it('keeps one upstream TLS connection while the Host clients send changes', async () => {
    // undici would take the TLS name from each request's Host and reconnect when it changes;
    // the engine names the upstream itself, so alternating Hosts reuse the kept-alive socket.
    const send = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${byName.pc.url}/alternate`, {
          headers: { host, cookie: byName.cookie },
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    await send('a.example.test');
    const before = good.handshakes.length;
    for (const host of ['b.example.test', 'a.example.test', 'b.example.test', 'a.example.test'])
      expect(await send(host)).toBe(200);
    expect(good.handshakes.length - before).toBe(0);
  });

  it('resumes its TLS session when it opens another upstream connection', async () => {
    const before = good.resumed;
    const answers = await Promise.all([1, 2, 3].map(() => get(byName, '/hold')));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    await Promise.all(answers.map((answer) => answer.arrayBuffer()));
    expect(good.resumed - before).toBeGreaterThan(0);
  });

  it('answers a request without a session itself: the upstream sees nothing', async () => {
    const before = good.requests.length;
    const response = await fetch(`${byName.pc.url}/hello`, { redirect: 'manual' });
    expect([302, 401]).toContain(response.status);
    await response.arrayBuffer();
    expect(good.requests.length).toBe(before);
  });
});

describe('proxy.upstream https://127.0.0.1:PORT (an IP literal)', () => {
  it('forwards over TLS, verified against the IP SAN, with no SNI', async () => {
    const before = good.handshakes.length;
    const response = await get(byIp, '/hello');
    expect(response.status, byIp.pc.output()).toBe(200);
    const answer = (await response.json()) as Seen;
    expect(answer).toEqual({
      path: '/hello',
      servername: null,
      alpn: 'http/1.1',
      remoteUser: byIp.username,
    });
    const fresh = good.handshakes.slice(before);
    expect(fresh).toEqual([{ offered: ['http/1.1'], servername: null }]);
  });
});

describe('proxy.upstream https://localhost:PORT whose certificate does not verify', () => {
  /** `reason`: the Node error code portcullis logs with the 502 (the certificate check's). */
  async function expectRefusedHandshake(
    front: Front,
    up: TlsUpstream,
    reason: string,
  ): Promise<void> {
    const errorsBefore = up.handshakeErrors.length;
    const logged = front.pc.output().split(`"reason":"${reason}"`).length - 1;
    const first = await get(front, '/hello');
    expect(first.status, front.pc.output()).toBe(502);
    await first.arrayBuffer();
    // It reached the upstream and gave up in the handshake, not a refused connection. The
    // upstream hears the client's alert on its own socket, maybe after the 502 came back.
    await waitFor(() => up.handshakeErrors.length > errorsBefore, 5000, 'the failed handshake');
    await waitFor(
      () => front.pc.output().split(`"reason":"${reason}"`).length - 1 > logged,
      5000,
      `a 502 logged with reason ${reason}\n${front.pc.output().slice(-2000)}`,
    );
    expect(up.requests).toEqual([]);
    // Still serving: the same failure again (no crash, no hang), health, and the session.
    const again = await get(front, '/again');
    expect(again.status).toBe(502);
    await again.arrayBuffer();
    expect(up.requests).toEqual([]);
    expect((await fetch(`${front.pc.url}/auth/healthz`)).status).toBe(200);
    const me = await get(front, '/auth/me', { accept: 'application/json' });
    expect(me.status).toBe(200);
    await me.arrayBuffer();
    expect(front.pc.child.exitCode).toBeNull();
  }

  it('signed by a CA portcullis does not trust: 502, nothing upstream, still healthy', async () => {
    await expectRefusedHandshake(toSwapping, swapping, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('signed by the trusted CA for another name (DNS:other.test) only: 502 likewise', async () => {
    swapping.use(trusted.issue(['DNS:other.test']));
    await expectRefusedHandshake(toSwapping, swapping, 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('the same portcullis reaches the upstream once its certificate is right', async () => {
    swapping.use(goodCert);
    const response = await get(toSwapping, '/after');
    expect(response.status, toSwapping.pc.output()).toBe(200);
    const answer = (await response.json()) as Seen;
    expect(answer).toMatchObject({ path: '/after', servername: 'localhost', alpn: 'http/1.1' });
    expect(swapping.requests).toEqual([answer]);
  });
});
