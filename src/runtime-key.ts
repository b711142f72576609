import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * With a memory store and no `auth.secret_key`, the server makes a key at start. It is kept in
 * a private file named after the config path so `portcullis login-url` beside the running
 * server can sign links that server accepts; the file goes away when the server stops.
 */
export function runtimeKeyPath(configPath: string): string {
  const id = createHash('sha256').update(configPath).digest('hex').slice(0, 16);
  return join(tmpdir(), `portcullis-${id}.key`);
}

/**
 * `unsaved` hears why the file could not be written: a read-only root file system (`docker run
 * --read-only`) must not stop the server, it only leaves `login-url` without the key.
 */
export function createRuntimeKey(configPath: string, unsaved?: (reason: string) => void): Buffer {
  const key = randomBytes(32);
  const path = runtimeKeyPath(configPath);
  try {
    writeFileSync(path, key.toString('hex'), { mode: 0o600 });
  } catch (error) {
    unsaved?.(`cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return key;
}

export function readRuntimeKey(configPath: string): Buffer | null {
  try {
    const hex = readFileSync(runtimeKeyPath(configPath), 'utf8').trim();
    return /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, 'hex') : null;
  } catch {
    return null;
  }
}

export function removeRuntimeKey(configPath: string): void {
  try {
    rmSync(runtimeKeyPath(configPath), { force: true });
  } catch {
    // Never written (read-only file system): nothing to remove.
  }
}
