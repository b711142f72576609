import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeConfig } from '../helpers/app.js';
import { type SmtpCapture, startSmtpCapture } from '../helpers/mail.js';

/**
 * `portcullis check-config --send-test EMAIL` sends one real mail and, when it cannot, says why
 * in the admin's words and exits 1 (a config error stays 2). Runs the built binary (`npm run
 * build` first, as for the other CLI tests) against a real local smtp-server.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'portcullis.js');
const KEY = 'b'.repeat(64);

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env))
    if (/^(PORTCULLIS_|REDIS_URL|GOOGLE_|SCIM_|RESEND_)/.test(name)) delete env[name];
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const smtpConfig = (url: string) =>
  writeConfig({
    auth: {
      secret_key: KEY,
      magic_link: { mailer: 'smtp', from: 'Portcullis <login@example.com>', smtp: { url } },
    },
  });

describe('check-config --send-test', { timeout: 30_000 }, () => {
  let smtp: SmtpCapture;
  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'main.js')))
      throw new Error('dist/main.js is missing: run `npm run build` (npm test does it first)');
    smtp = await startSmtpCapture({ auth: { user: 'mailer', pass: 'right-pass' } });
  });
  afterAll(async () => {
    await smtp?.close();
  });

  it('sends one test mail and exits 0', async () => {
    const result = await run([
      'check-config',
      '--config',
      smtpConfig(smtp.url),
      '--send-test',
      'ops@example.com',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^config OK: /);
    expect(result.stdout).toContain('test mail sent to ops@example.com via smtp (127.0.0.1:');
    const mail = await smtp.waitForMailTo('ops@example.com');
    expect(mail.subject).toContain('test mail');
    expect(mail.link).toBeNull();
  });

  it('a refused login: exit 1 with the classified reason, never the password', async () => {
    const wrong = smtp.url.replace('mailer:right-pass@', 'mailer:hunter2-wrong@');
    const result = await run([
      'check-config',
      '--config',
      smtpConfig(wrong),
      '--send-test',
      'ops@example.com',
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^config OK: /);
    expect(result.stderr).toContain(
      'test mail to ops@example.com not sent: SMTP authentication failed (535)',
    );
    expect(result.stdout + result.stderr).not.toContain('hunter2');
  });

  it('nobody listening: exit 1, names host and port', async () => {
    const result = await run([
      'check-config',
      '--config',
      smtpConfig('smtp://u:p@127.0.0.1:1'),
      '--send-test',
      'ops@example.com',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('could not connect to 127.0.0.1:1 (ECONNREFUSED)');
  });

  it('the log mailer has nothing to test (exit 0); a bad address is a usage error (exit 2)', async () => {
    const log = writeConfig({ auth: { secret_key: KEY } });
    const quiet = await run(['check-config', '--config', log, '--send-test', 'ops@example.com']);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toContain('it sends no mail, so there is nothing to test');
    const bad = await run(['check-config', '--config', log, '--send-test', 'not-an-address']);
    expect(bad.code).toBe(2);
  });
});
