import type { ConfigIssue } from './issues.js';
import type { RawConfig } from './schema.js';

/**
 * What a file a config key names must hold. load.ts reads the files; these judge the bytes, so
 * the checks run without a disk.
 */

/** A file a config key names, as load.ts found it; `path` is resolved against the config's folder. */
export type FileRead = { path: string; bytes: Buffer } | { path: string; error: string };

export interface Logo {
  bytes: Buffer;
  contentType: string;
}

const LOGO_TYPES: Record<string, string> = {
  png: 'image/png',
  svg: 'image/svg+xml',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
};

function fileFor(
  setting: string,
  key: string,
  files: ReadonlyMap<string, FileRead>,
  issues: ConfigIssue[],
): Buffer | null {
  const read = files.get(setting);
  if (!read) {
    issues.push({ path: key, message: `cannot read ${setting}: not loaded` });
    return null;
  }
  if ('error' in read) {
    issues.push({ path: key, message: `cannot read ${read.path}: ${read.error}` });
    return null;
  }
  return read.bytes;
}

export function logoFrom(
  setting: string | null,
  files: ReadonlyMap<string, FileRead>,
  issues: ConfigIssue[],
): Logo | null {
  if (!setting) return null;
  const bytes = fileFor(setting, 'ui.logo_file', files, issues);
  if (!bytes) return null;
  const path = (files.get(setting) as FileRead).path;
  if (bytes.length > 512 * 1024) {
    issues.push({ path: 'ui.logo_file', message: `${path} is larger than 512 KiB` });
    return null;
  }
  const extension = (path.split('.').pop() ?? '').toLowerCase();
  return { bytes, contentType: LOGO_TYPES[extension] ?? 'application/octet-stream' };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----/;

export function smtpCaFrom(
  auth: RawConfig['auth'] | undefined,
  files: ReadonlyMap<string, FileRead>,
  issues: ConfigIssue[],
): Buffer | null {
  const setting = auth?.magic_link.smtp?.tls.ca_file;
  if (!setting) return null;
  const key = 'auth.magic_link.smtp.tls.ca_file';
  const bytes = fileFor(setting, key, files, issues);
  if (!bytes) return null;
  if (!PEM_CERT.test(bytes.toString('latin1'))) {
    const path = (files.get(setting) as FileRead).path;
    issues.push({ path: key, message: `${path} holds no PEM certificate (BEGIN CERTIFICATE)` });
    return null;
  }
  return bytes;
}
