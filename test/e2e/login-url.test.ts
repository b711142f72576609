import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/ports.js';

const run = promisify(execFile);
const CSRF = 'q'.repeat(43);

/**
 * SPEC §1: `portcullis login-url` works beside a running server on `memory://` — the quick
 * start's setup, with no secret_key configured at all.
 */
describe('login-url beside a running memory:// server (the quick start)', () => {
  let server: ChildProcess;
  let base: string;
  let configPath: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
    configPath = join(dir, 'portcullis.yaml');
    writeFileSync(
      configPath,
      `server:\n  listen: 127.0.0.1:${port}\n  public_url: ${base}\nauth:\n  enabled_auth: [magic_link]\n  magic_link: { mailer: log }\nstore: { url: "memory://" }\n`,
    );
    server = spawn(process.execPath, ['bin/portcullis.js', 'serve', '--config', configPath], {
      stdio: 'pipe',
      env: { ...process.env, PORTCULLIS_SECRET_KEY: '' },
    });
    await waitFor(
      async () => (await fetch(`${base}/auth/healthz`)).ok,
      15_000,
      'portcullis to listen',
    );
  });

  afterAll(() => {
    server?.kill('SIGTERM');
  });

  it('prints a link the running server accepts exactly once', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        'bin/portcullis.js',
        'login-url',
        'Zoe@Example.com',
        '--rd',
        '/welcome',
        '--config',
        configPath,
      ],
      {
        env: { ...process.env, PORTCULLIS_SECRET_KEY: '' },
      },
    );
    const link = new URL(stdout.trim());
    expect(link.origin).toBe(base);
    expect(link.pathname).toBe('/auth/magic');
    const token = link.searchParams.get('token') as string;
    const redeem = () =>
      fetch(`${base}/auth/magic`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `portcullis_csrf=${CSRF}`,
        },
        body: new URLSearchParams({ token, csrf: CSRF }).toString(),
      });
    const first = await redeem();
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/welcome');
    const session = /portcullis_session=([^;]+)/.exec(first.headers.get('set-cookie') ?? '')?.[1];
    expect(session).toBeTruthy();
    const me = await fetch(`${base}/auth/me`, {
      headers: { cookie: `portcullis_session=${session}` },
    });
    expect(((await me.json()) as { email: string }).email).toBe('zoe@example.com');
    const second = await redeem();
    expect(second.headers.get('location')).toBe('/auth/login?error=link_used');
  });

  it('refuses an address that is not one', async () => {
    const failure = await run(process.execPath, [
      'bin/portcullis.js',
      'login-url',
      'a@b@c',
      '--config',
      configPath,
    ]).catch((error: { code: number; stderr: string }) => error);
    expect((failure as { code: number }).code).toBe(2);
    expect((failure as { stderr: string }).stderr).toContain('not an email address');
  });
});
