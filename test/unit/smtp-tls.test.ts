import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { createMailer } from '../../src/mail/create-mailer.js';
import type { LoginMail } from '../../src/mail/mailer.js';
import { writeConfig } from '../helpers/app.js';
import { makeCa, type ServerCert, type TestCa } from '../helpers/pki.js';

/**
 * `auth.magic_link.smtp.tls` against a real `smtp-server` whose certificate a private CA signed
 * for `mail.relay.test`, reached as 127.0.0.1: implicit TLS (smtps://) and STARTTLS (smtp://).
 * node:crypto cannot make X.509 certificates, so `openssl` makes them (test/helpers/pki.ts);
 * without it the suite fails and says what to install.
 */

const RELAY_NAME = 'mail.relay.test';

/** The relay's CA (test/helpers/pki.ts: openssl, which fails the suite when missing). */
interface Pki extends ServerCert {
  ca: TestCa;
}

function makePki(): Pki {
  const ca = makeCa('Portcullis Test Relay CA');
  return { ca, ...ca.issue([`DNS:${RELAY_NAME}`]) };
}

interface Relay {
  port: number;
  /** Whether each delivered message came over TLS. */
  delivered: boolean[];
  close(): Promise<void>;
}

async function startRelay(pki: Pki, implicitTls: boolean): Promise<Relay> {
  const delivered: boolean[] = [];
  const server = new SMTPServer({
    secure: implicitTls,
    key: pki.key,
    cert: pki.cert,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        delivered.push(session.secure);
        callback();
      });
    },
  });
  // A refused handshake is the point of some cases; it must not surface as an unhandled error.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, delivered, close: () => new Promise((r) => server.close(() => r())) };
}

const MAIL: LoginMail = {
  from: 'Portcullis <login@example.com>',
  to: 'ann@example.com',
  subject: 'Sign in',
  text: 'link',
  html: '<p>link</p>',
} as LoginMail;

interface Case {
  name: string;
  scheme: 'smtps' | 'smtp';
  /** Query appended to the URL (nodemailer reads e.g. requireTLS from it). */
  query?: string;
  tls: { ca_file?: 'ca' | 'missing'; reject_unauthorized?: boolean; servername?: string } | null;
  /** null: delivered over TLS; otherwise a fragment of the send error. */
  error: RegExp | null;
}

const CASES: Case[] = [
  {
    name: 'implicit TLS (465 style), private CA and the name the certificate carries',
    scheme: 'smtps',
    tls: { ca_file: 'ca', servername: RELAY_NAME },
    error: null,
  },
  {
    name: 'STARTTLS (587 style), private CA and servername, TLS required',
    scheme: 'smtp',
    query: '?requireTLS=true',
    tls: { ca_file: 'ca', servername: RELAY_NAME },
    error: null,
  },
  {
    name: 'implicit TLS without the CA: the system roots do not know it',
    scheme: 'smtps',
    tls: null,
    error: /self[- ]signed|unable to (get|verify)|UNABLE_TO|SELF_SIGNED/i,
  },
  {
    name: 'STARTTLS without the CA is refused too, not sent in the clear',
    scheme: 'smtp',
    tls: { servername: RELAY_NAME },
    error: /self[- ]signed|unable to (get|verify)|UNABLE_TO|SELF_SIGNED/i,
  },
  {
    name: 'the CA but no servername: the certificate does not name 127.0.0.1',
    scheme: 'smtps',
    tls: { ca_file: 'ca' },
    error: /altnames|does not match|ERR_TLS_CERT_ALTNAME_INVALID/i,
  },
  {
    name: 'the CA and the wrong servername',
    scheme: 'smtp',
    tls: { ca_file: 'ca', servername: 'other.relay.test' },
    error: /altnames|does not match|ERR_TLS_CERT_ALTNAME_INVALID/i,
  },
  {
    name: 'reject_unauthorized: false accepts any certificate (and warns)',
    scheme: 'smtps',
    tls: { reject_unauthorized: false },
    error: null,
  },
];

describe('SMTP relays with their own TLS settings', () => {
  let pki: Pki;
  const relays: Relay[] = [];

  beforeAll(() => {
    pki = makePki();
  });
  afterAll(async () => {
    await Promise.all(relays.map((relay) => relay.close()));
    pki?.ca.remove();
  });

  function configFor(row: Case, port: number): string {
    const tls: Record<string, unknown> = {};
    if (row.tls?.ca_file) {
      tls.ca_file = row.tls.ca_file === 'ca' ? pki.ca.caFile : join(pki.ca.dir, 'none.pem');
    }
    if (row.tls?.reject_unauthorized !== undefined)
      tls.reject_unauthorized = row.tls.reject_unauthorized;
    if (row.tls?.servername) tls.servername = row.tls.servername;
    return writeConfig({
      auth: {
        magic_link: {
          mailer: 'smtp',
          smtp: {
            url: `${row.scheme}://127.0.0.1:${port}${row.query ?? ''}`,
            ...(row.tls ? { tls } : {}),
          },
        },
      },
    });
  }

  it.each(CASES)('$name', async (row) => {
    const relay = await startRelay(pki, row.scheme === 'smtps');
    relays.push(relay);
    const config = loadConfig({ path: configFor(row, relay.port), env: {} });
    if (row.tls?.reject_unauthorized === false) {
      expect(config.warnings.join('\n')).toContain('reject_unauthorized is false');
    }
    const mailer = await createMailer(config, pino({ level: 'silent' }));
    try {
      if (row.error) {
        await expect(mailer.send(MAIL)).rejects.toThrow(row.error);
        expect(relay.delivered).toEqual([]);
      } else {
        await mailer.send(MAIL);
        expect(relay.delivered).toEqual([true]);
      }
    } finally {
      await mailer.close();
    }
  });

  it('a missing or non-PEM ca_file is a config error, listed with the others', () => {
    const notPem = join(pki.ca.dir, 'not-a-certificate.txt');
    writeFileSync(notPem, 'subjectAltName=DNS:mail.relay.test\n');
    for (const [file, message] of [
      [join(pki.ca.dir, 'none.pem'), 'cannot read'],
      [notPem, 'holds no PEM certificate'],
    ] as const) {
      const path = writeConfig({
        auth: {
          magic_link: {
            mailer: 'smtp',
            smtp: { url: 'smtps://127.0.0.1:1', tls: { ca_file: file, servername: 'a b' } },
          },
        },
      });
      let lines: string[] = [];
      try {
        loadConfig({ path, env: {} });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        lines = error.issues.map(formatIssue);
      }
      expect(lines).toEqual([
        expect.stringMatching(/^auth\.magic_link\.smtp\.tls\.servername: must be the host name/),
        expect.stringMatching(
          new RegExp(`^auth\\.magic_link\\.smtp\\.tls\\.ca_file: .*${message}`),
        ),
      ]);
    }
  });
});
