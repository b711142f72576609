import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type Config, derive } from './derive.js';
import type { FileRead } from './file-values.js';
import { ConfigError, type ConfigIssue } from './issues.js';
import { type EnvSettings, parse } from './parse.js';
import { isPlainObject, setOwn } from './plain-object.js';

/**
 * The I/O side of the config: the file, the secrets file beside it, `${VAR}` substitution, the
 * environment's overrides and the files keys name. parse.ts judges what this reads; derive.ts
 * precomputes from what passed.
 */

// loadConfig's result and part of it, so callers need the one import.
export type { Config, EnvSettings };

export const DEFAULT_CONFIG_PATH = 'config/portcullis.yaml';

/** The keys whose value names a file to read at load, so a missing file is a config error. */
const FILE_KEYS: readonly (readonly string[])[] = [
  ['ui', 'logo_file'],
  ['auth', 'magic_link', 'smtp', 'tls', 'ca_file'],
];

function valueAt(data: unknown, path: readonly string[]): unknown {
  let value = data;
  for (const key of path) {
    if (!isPlainObject(value) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

/**
 * Reads every file a key names, before validation: parse.ts takes the read only for a value
 * that passes the schema, and reports what went wrong with it.
 */
function readNamedFiles(data: Record<string, unknown>, configPath: string): Map<string, FileRead> {
  const out = new Map<string, FileRead>();
  for (const key of FILE_KEYS) {
    const setting = valueAt(data, key);
    if (typeof setting !== 'string' || setting === '' || out.has(setting)) continue;
    const path = isAbsolute(setting) ? setting : resolve(dirname(configPath), setting);
    try {
      out.set(setting, { path, bytes: readFileSync(path) });
    } catch (error) {
      out.set(setting, { path, error: (error as NodeJS.ErrnoException).code ?? 'error' });
    }
  }
  return out;
}

type Env = Record<string, string | undefined>;

const VAR_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_VAR_RE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;
const UNSET = Symbol('unset');

/** Replaces `${VAR}` (and `${VAR:-default}`) in every string; a value that is only an unset `${VAR}` counts as not set. */
function interpolate(value: unknown, env: Env, path: string, issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_VAR_RE.exec(value);
    if (whole) {
      const found = env[whole[1] as string];
      if (found !== undefined && found !== '') return found;
      return whole[2] !== undefined ? whole[2] : UNSET;
    }
    return value.replace(VAR_RE, (_all, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      issues.push({ path, message: `environment variable ${name} is not set` });
      return '';
    });
  }
  if (Array.isArray(value)) {
    return value
      .map((item, index) => interpolate(item, env, `${path}.${index}`, issues))
      .filter((item) => item !== UNSET);
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const result = interpolate(item, env, path ? `${path}.${key}` : key, issues);
      if (result !== UNSET) setOwn(out, key, result);
    }
    return out;
  }
  return value;
}

function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const existing = Object.hasOwn(out, key) ? out[key] : undefined;
    setOwn(
      out,
      key,
      isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : value,
    );
  }
  return out;
}

function readYaml(
  file: string,
  label: string,
  issues: ConfigIssue[],
): Record<string, unknown> | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    issues.push({
      path: label,
      message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    });
    return null;
  }
  try {
    const parsed: unknown = parseYaml(text, { prettyErrors: true, maxAliasCount: 100 });
    if (parsed === null || parsed === undefined) return {};
    if (!isPlainObject(parsed)) {
      issues.push({ path: label, message: `${file} must hold a YAML mapping at the top level` });
      return null;
    }
    return parsed;
  } catch (error) {
    issues.push({
      path: label,
      message: `${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`,
    });
    return null;
  }
}

function applyEnvOverrides(data: Record<string, unknown>, env: Env): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  const server: Record<string, unknown> = {};
  if (env.PORTCULLIS_LISTEN) server.listen = env.PORTCULLIS_LISTEN;
  if (env.PORTCULLIS_PUBLIC_URL) server.public_url = env.PORTCULLIS_PUBLIC_URL;
  if (Object.keys(server).length) overrides.server = server;
  if (env.REDIS_URL) overrides.store = { url: env.REDIS_URL };
  let merged = deepMerge(data, overrides);
  // Fill-ins: the environment supplies what the file leaves unset.
  const auth = isPlainObject(merged.auth) ? merged.auth : {};
  const fill: Record<string, unknown> = {};
  if (auth.secret_key === undefined && env.PORTCULLIS_SECRET_KEY)
    fill.secret_key = env.PORTCULLIS_SECRET_KEY;
  const google = isPlainObject(auth.google_oauth) ? auth.google_oauth : {};
  const googleFill: Record<string, unknown> = {};
  if (google.client_id === undefined && env.GOOGLE_CLIENT_ID)
    googleFill.client_id = env.GOOGLE_CLIENT_ID;
  if (google.client_secret === undefined && env.GOOGLE_CLIENT_SECRET)
    googleFill.client_secret = env.GOOGLE_CLIENT_SECRET;
  if (Object.keys(googleFill).length) fill.google_oauth = googleFill;
  if (Object.keys(fill).length) merged = deepMerge(merged, { auth: fill });
  return merged;
}

function envSettingsFrom(env: Env): EnvSettings {
  return {
    resendApiKey: env.RESEND_API_KEY || null,
    resendBaseUrl: env.RESEND_BASE_URL || null,
    scimUser: env.SCIM_USER || null,
    scimPassword: env.SCIM_PASSWORD || null,
    scimBearerToken: env.SCIM_BEARER_TOKEN || null,
  };
}

export interface LoadOptions {
  path?: string;
  env?: Env;
  anonymousMode?: boolean;
}

/** Reads, interpolates, validates and precomputes the config. Throws ConfigError with every problem at once. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const path = resolve(options.path ?? env.PORTCULLIS_CONFIG ?? DEFAULT_CONFIG_PATH);
  const issues: ConfigIssue[] = [];
  const main = readYaml(path, '(config file)', issues);
  if (!main) throw new ConfigError(issues);
  let data = main;
  // Interpolated on its own first, as the secrets file is read before the rest is interpolated
  // (its problems are reported once, by that pass).
  const secretsSetting = interpolate(main.secrets_file, env, 'secrets_file', []);
  const secretsPath =
    typeof secretsSetting === 'string'
      ? isAbsolute(secretsSetting)
        ? secretsSetting
        : resolve(dirname(path), secretsSetting)
      : resolve(dirname(path), 'secrets.yaml');
  if (typeof secretsSetting === 'string' || existsSync(secretsPath)) {
    const secrets = readYaml(secretsPath, 'secrets_file', issues);
    if (secrets) data = deepMerge(data, secrets);
  }
  const interpolated = interpolate(data, env, '', issues) as Record<string, unknown>;
  const withEnv = applyEnvOverrides(interpolated, env);
  if (options.anonymousMode) withEnv.anonymous_mode = true;
  const envSettings = envSettingsFrom(env);
  const result = parse(withEnv, {
    env: envSettings,
    files: readNamedFiles(withEnv, path),
    reported: issues,
  });
  if ('issues' in result) throw new ConfigError([...issues, ...result.issues], result.warnings);
  if (issues.length > 0) throw new ConfigError(issues, result.config.warnings);
  return derive(result.config, { path, env: envSettings });
}
