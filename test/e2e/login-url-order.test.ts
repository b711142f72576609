import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/ports.js';

const run = promisify(execFile);
const CSRF = 'q'.repeat(43);
const LINK_USED = '/auth/login?error=link_used';

/**
 * `portcullis login-url` beside a running memory:// server signs links the server has never
 * seen: the newest still works, and once used it voids the older ones (issue 10, one-time links).
 */
describe('login-url links and their order, with the real binary', () => {
  let server: ChildProcess;
  let base: string;
  let configPath: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-order-'));
    configPath = join(dir, 'portcullis.yaml');
    writeFileSync(
      configPath,
      `server:\n  listen: 127.0.0.1:${port}\n  public_url: ${base}\nauth:\n  enabled_auth: [magic_link]\n  magic_link: { mailer: log }\nstore: { url: "memory://" }\n`,
    );
    server = spawn(process.execPath, ['bin/portcullis.js', 'serve', '--config', configPath], {
      stdio: 'ignore',
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

  async function cliLink(email: string): Promise<string> {
    const { stdout } = await run(
      process.execPath,
      ['bin/portcullis.js', 'login-url', email, '--config', configPath],
      { env: { ...process.env, PORTCULLIS_SECRET_KEY: '' } },
    );
    return new URL(stdout.trim()).searchParams.get('token') as string;
  }

  async function redeem(token: string): Promise<string | null> {
    const answer = await fetch(`${base}/auth/magic`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_csrf=${CSRF}`,
      },
      body: new URLSearchParams({ token, csrf: CSRF }).toString(),
    });
    expect(answer.status).toBe(303);
    return answer.headers.get('location');
  }

  it('the newest link works; used, it voids the older one', async () => {
    const older = await cliLink('ord@example.com');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const newer = await cliLink('ord@example.com');
    expect(await redeem(newer)).toBe('/');
    expect(await redeem(older)).toBe(LINK_USED);
    expect(await redeem(newer)).toBe(LINK_USED);
  });

  it('links of other addresses are not touched', async () => {
    const mine = await cliLink('one@example.com');
    const theirs = await cliLink('two@example.com');
    expect(await redeem(theirs)).toBe('/');
    expect(await redeem(mine)).toBe('/');
  });
});
