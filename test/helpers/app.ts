import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { type App, startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Clock, Timers } from '../../src/core/clock.js';

export const TEST_SECRET = 'a'.repeat(64);

/** Writes a YAML config (an object) to a temp dir and returns its path. */
export function writeConfig(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
  const path = join(dir, 'portcullis.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

export interface TestApp extends App {
  configPath: string;
  /** Sign `email` in through a one-time link, as the CLI/admin would hand it out; returns the session cookie value. */
  login(email: string): Promise<string>;
}

/** Starts portcullis in-process on a free port with the given config (secret key and quiet logs by default). */
export async function startTestApp(
  config: Record<string, unknown> = {},
  options: { clock?: Clock; timers?: Timers; env?: Record<string, string | undefined> } = {},
): Promise<TestApp> {
  const auth = (config.auth as Record<string, unknown> | undefined) ?? {};
  const full = { ...config, auth: { secret_key: TEST_SECRET, ...auth }, log: { level: 'silent' } };
  const configPath = writeConfig(full);
  const loaded = loadConfig({ path: configPath, env: options.env ?? {} });
  const app = await startApp(loaded, {
    clock: options.clock,
    timers: options.timers,
    logger: pino({ level: 'silent' }),
    listen: { host: '127.0.0.1', port: 0 },
  });
  const login = async (email: string) => {
    const url = new URL(await app.ctx.loginLinks.issue(email, '/'));
    const token = url.searchParams.get('token') as string;
    const csrf = 'c'.repeat(43);
    const response = await fetch(`${app.url}${loaded.prefix}/magic`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_csrf=${csrf}`,
      },
      body: new URLSearchParams({ token, csrf }).toString(),
    });
    const setCookie = response.headers.get('set-cookie') ?? '';
    const match = new RegExp(`${loaded.raw.session.cookie_name}=([^;]+)`).exec(setCookie);
    if (!match) throw new Error(`login failed: ${response.status}`);
    return match[1] as string;
  };
  return { ...app, configPath, login };
}
