import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway certificate authority for TLS tests, made with `openssl` (node:crypto cannot make
 * X.509 certificates), for the SMTP relay (test/unit/smtp-tls.test.ts) and the https upstream
 * (test/e2e/proxy-https-upstream.test.ts): an EC P-256 CA, valid two days, that issues server
 * certificates for the subjectAltNames a test asks for.
 */

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Fails the test (never skips it) where `openssl` is missing. */
export function requireOpenssl(): void {
  if (spawnSync('openssl', ['version']).status !== 0) {
    throw new Error('these tests need `openssl` to make certificates: apt-get install openssl');
  }
}

export interface ServerCert {
  key: Buffer;
  cert: Buffer;
}

export interface TestCa {
  /** The temp dir holding the CA's files and every certificate it issued. */
  dir: string;
  /** The CA certificate (PEM), e.g. for NODE_EXTRA_CA_CERTS. */
  caFile: string;
  /**
   * A server certificate (serverAuth) for `sans`, in openssl's subjectAltName syntax:
   * `DNS:localhost`, `IP:127.0.0.1`.
   */
  issue(sans: readonly string[]): ServerCert;
  /** Removes `dir`. */
  remove(): void;
}

export function makeCa(commonName = 'Portcullis Test CA'): TestCa {
  requireOpenssl();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-pki-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  let serial = 1;
  const issue = (sans: readonly string[]): ServerCert => {
    if (sans.length === 0) throw new Error('a server certificate needs at least one SAN');
    serial += 1;
    const name = `server-${serial}`;
    const firstName = (sans[0] as string).replace(/^[A-Z]+:/, '');
    openssl(
      'req',
      ...EC_KEY,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${firstName}`,
    );
    writeFileSync(
      join(dir, `${name}.ext`),
      `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\n`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      String(serial),
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
    return {
      key: readFileSync(join(dir, `${name}.key`)),
      cert: readFileSync(join(dir, `${name}.pem`)),
    };
  };
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    issue,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
