import { existsSync, readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { CompiledRule } from '../core/decide.js';
import { buildRedirectPolicy, type RedirectPolicy } from '../core/redirect.js';
import { compileRules } from '../core/rules.js';
import { ConfigError, type ConfigIssue } from './issues.js';
import { configSchema, type RawConfig, storeIsRedis } from './schema.js';

export const DEFAULT_CONFIG_PATH = 'config/portcullis.yaml';

/** Settings that come from the environment only (names kept from the systems portcullis replaces). */
export interface EnvSettings {
  resendApiKey: string | null;
  resendBaseUrl: string | null;
  scimUser: string | null;
  scimPassword: string | null;
  scimBearerToken: string | null;
}

/** The config after validation, with everything the running server needs precomputed. */
export interface Config {
  raw: RawConfig;
  path: string;
  listen: { host: string; port: number };
  publicUrl: URL;
  /** `https://auth.example.com` without a trailing slash. */
  publicOrigin: string;
  prefix: string;
  secureCookies: boolean;
  trustedProxies: BlockList;
  /** Keys in order: the first signs, all verify. Null: memory store, none configured. */
  secretKeys: Buffer[] | null;
  rules: CompiledRule[];
  redirectPolicy: RedirectPolicy;
  env: EnvSettings;
  warnings: string[];
  /** `ui.logo_file`, read at load so a missing file is a config error, not a broken page. */
  logo: { bytes: Buffer; contentType: string } | null;
  /** `auth.magic_link.smtp.tls.ca_file`, read at load so a missing file is a config error. */
  smtpCa: Buffer | null;
}

const LOGO_TYPES: Record<string, string> = {
  png: 'image/png',
  svg: 'image/svg+xml',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
};

function readLogo(file: string | null, configPath: string, issues: ConfigIssue[]) {
  if (!file) return null;
  const path = isAbsolute(file) ? file : resolve(dirname(configPath), file);
  try {
    const bytes = readFileSync(path);
    if (bytes.length > 512 * 1024) {
      issues.push({ path: 'ui.logo_file', message: `${path} is larger than 512 KiB` });
      return null;
    }
    const extension = (path.split('.').pop() ?? '').toLowerCase();
    return { bytes, contentType: LOGO_TYPES[extension] ?? 'application/octet-stream' };
  } catch (error) {
    issues.push({
      path: 'ui.logo_file',
      message: `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    });
    return null;
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----/;

function readSmtpCa(
  auth: RawConfig['auth'] | undefined,
  configPath: string,
  issues: ConfigIssue[],
) {
  const file = auth?.magic_link.smtp?.tls.ca_file;
  if (!file) return null;
  const path = isAbsolute(file) ? file : resolve(dirname(configPath), file);
  const key = 'auth.magic_link.smtp.tls.ca_file';
  try {
    const bytes = readFileSync(path);
    if (!PEM_CERT.test(bytes.toString('latin1'))) {
      issues.push({ path: key, message: `${path} holds no PEM certificate (BEGIN CERTIFICATE)` });
      return null;
    }
    return bytes;
  } catch (error) {
    issues.push({
      path: key,
      message: `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    });
    return null;
  }
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

/**
 * `obj[key] = value` would, for a YAML key `__proto__`, replace the object's prototype and let
 * the keys under it reach the schema as inherited values, past the unknown-key check. Defining
 * an own property keeps it an ordinary (and so unknown) key.
 */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
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

function zodIssues(error: z.ZodError): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: path ? `${path}.${key}` : key, message: 'unknown key' });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

function toList(value: string | string[] | undefined): string[] | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value : [value];
}

function buildTrustedProxies(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
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

/** Hosts that mean "every interface": fine to listen on, useless in a link. */
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '[::]']);

/**
 * `server.public_url` when neither the file nor PORTCULLIS_PUBLIC_URL sets it: where `listen`
 * is reached, `http://<host>:<port>` (IPv6 bracketed). A wildcard host is no address a browser
 * can use, so it becomes 127.0.0.1 and the caller warns.
 */
export function publicUrlFromListen(listen: string): { url: string; wildcard: boolean } {
  const match = /^(.*):(\d+)$/.exec(listen);
  const rawHost = match?.[1] ?? '';
  const port = match?.[2] ?? '';
  const host = isIP(rawHost) === 6 ? `[${rawHost}]` : rawHost;
  // The URL parser normalises spellings (`0`, `[0:0::0]`) so one set catches every wildcard.
  const hostname = host === '' ? '' : new URL(`http://${host}:${port}`).hostname;
  const wildcard = WILDCARD_HOSTS.has(hostname);
  return { url: `http://${wildcard ? '127.0.0.1' : hostname}:${port}`, wildcard };
}

/** Checks that span keys. Takes the sections that parsed: on a schema error it runs on the rest. */
function semanticIssues(
  raw: Partial<RawConfig>,
  env: EnvSettings,
  issues: ConfigIssue[],
  warnings: string[],
): void {
  const { auth, store, scim, access, server } = raw;
  if (store && auth && storeIsRedis(store) && auth.secret_key === undefined) {
    issues.push({
      path: 'auth.secret_key',
      message:
        'required with a Redis store (set PORTCULLIS_SECRET_KEY; make one with: openssl rand -hex 32)',
    });
  }
  if (store && (store.sentinel || store.cluster) && store.url !== 'memory://') {
    warnings.push(
      `store.url (or REDIS_URL) lends only its password, database and TLS to store.${store.sentinel ? 'sentinel' : 'cluster'}: its host is not used`,
    );
  }
  if (auth) authIssues(auth, env, issues);
  if (auth?.magic_link.smtp?.tls.reject_unauthorized === false) {
    warnings.push(
      'auth.magic_link.smtp.tls.reject_unauthorized is false: the relay is not authenticated, so anyone on the path can read sign-in links; prefer tls.ca_file',
    );
  }
  if (scim?.enabled && !env.scimBearerToken && !(env.scimUser && env.scimPassword)) {
    issues.push({
      path: 'scim.enabled',
      message: 'SCIM needs SCIM_USER and SCIM_PASSWORD, or SCIM_BEARER_TOKEN, in the environment',
    });
  }
  if (raw.headers?.groups_filter === 'rules' && access && !access.rules.some((r) => r.groups)) {
    warnings.push(
      'headers.groups_filter is rules but no access rule names a group: the groups headers are always empty',
    );
  }
  if (raw.anonymous_mode) {
    warnings.push('anonymous_mode is on: every request passes the auth check');
    const unenforced = (access?.rules ?? []).flatMap((rule, index) =>
      rule.groups || rule.emails || rule.domains || rule.policy === 'deny' ? [index] : [],
    );
    if (unenforced.length > 0) {
      warnings.push(
        `anonymous_mode is on: access.rules ${unenforced.map((i) => `[${i}]`).join(', ')} (groups, emails, domains or deny) are not enforced`,
      );
    }
  }
  if (access?.default_policy === 'bypass')
    warnings.push('access.default_policy is bypass: unmatched requests pass without login');
  if (server?.trusted_proxies.some((c) => c.endsWith('/0'))) {
    warnings.push(
      'server.trusted_proxies trusts every address: any client can forge X-Forwarded-* headers',
    );
  }
}

function authIssues(auth: RawConfig['auth'], env: EnvSettings, issues: ConfigIssue[]): void {
  const enabled = new Set(auth.enabled_auth);
  if (enabled.size !== auth.enabled_auth.length) {
    issues.push({ path: 'auth.enabled_auth', message: 'lists a method twice' });
  }
  if (enabled.has('magic_link')) {
    const mailer = auth.magic_link.mailer;
    if (mailer === 'resend' && !env.resendApiKey) {
      issues.push({
        path: 'auth.magic_link.mailer',
        message: 'resend needs the RESEND_API_KEY environment variable',
      });
    }
    if (mailer === 'smtp' && !auth.magic_link.smtp) {
      issues.push({ path: 'auth.magic_link.smtp.url', message: 'required when mailer is smtp' });
    }
  }
  if (enabled.has('google_oauth')) {
    if (!auth.google_oauth.client_id) {
      issues.push({
        path: 'auth.google_oauth.client_id',
        message: 'required for google_oauth (or set GOOGLE_CLIENT_ID)',
      });
    }
    if (!auth.google_oauth.client_secret) {
      issues.push({
        path: 'auth.google_oauth.client_secret',
        message: 'required for google_oauth (or set GOOGLE_CLIENT_SECRET)',
      });
    }
  }
  if (enabled.has('oidc')) {
    if (!auth.oidc.issuer) issues.push({ path: 'auth.oidc.issuer', message: 'required for oidc' });
    if (!auth.oidc.client_id)
      issues.push({ path: 'auth.oidc.client_id', message: 'required for oidc' });
  }
  if (auth.signup === 'allowed_domains' && auth.allowed_domains.length === 0) {
    issues.push({
      path: 'auth.allowed_domains',
      message: 'must list at least one domain when signup is allowed_domains',
    });
  }
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

/** Each top-level section parsed on its own; the ones with problems are left out. */
function parseSections(data: Record<string, unknown>): Partial<RawConfig> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(configSchema.shape)) {
    const result = schema.safeParse(Object.hasOwn(data, key) ? data[key] : undefined);
    if (result.success) out[key] = result.data;
  }
  return out as Partial<RawConfig>;
}

const REMOVED = Symbol('removed');

function cloneData(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneData);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) setOwn(out, key, cloneData(item));
  return out;
}

/**
 * Takes the value at `path` out so its default applies; a key that is already missing (a
 * required one) takes its parent with it. Array items are marked and dropped after the round,
 * so the other indexes of the same round stay valid.
 */
function removeAt(root: unknown, path: readonly PropertyKey[]): boolean {
  if (path.length === 0) return false;
  let parent: unknown = root;
  for (const key of path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object' || !Object.hasOwn(parent, key))
      return removeAt(root, path.slice(0, -1));
    parent = (parent as Record<PropertyKey, unknown>)[key];
  }
  const last = path[path.length - 1] as PropertyKey;
  if (parent === null || typeof parent !== 'object' || !Object.hasOwn(parent, last))
    return removeAt(root, path.slice(0, -1));
  if (Array.isArray(parent)) {
    if (parent[Number(last)] === REMOVED) return false;
    parent[Number(last)] = REMOVED;
  } else {
    delete (parent as Record<PropertyKey, unknown>)[last];
  }
  return true;
}

function dropRemoved(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((item) => item !== REMOVED).map(dropRemoved);
  if (!isPlainObject(value)) return value;
  for (const [key, item] of Object.entries(value)) setOwn(value, key, dropRemoved(item));
  return value;
}

/**
 * The config with every value the schema refused taken out (so defaults stand in), for the
 * cross-key checks to run on when the schema fails: a typo in one `auth` key must not hide that
 * google_oauth has no client_id. Null when nothing is left to take out.
 */
function salvage(data: Record<string, unknown>): Partial<RawConfig> | null {
  const current = cloneData(data) as Record<string, unknown>;
  for (let round = 0; round < 32; round++) {
    const result = configSchema.safeParse(current);
    if (result.success) {
      const listen = result.data.server.listen;
      const publicUrl = result.data.server.public_url ?? publicUrlFromListen(listen).url;
      return { ...result.data, server: { ...result.data.server, public_url: publicUrl } };
    }
    let progress = false;
    for (const issue of result.error.issues) {
      const paths =
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => [...issue.path, key])
          : [issue.path];
      for (const path of paths) if (removeAt(current, path)) progress = true;
    }
    if (!progress) return null;
    dropRemoved(current);
  }
  return null;
}

/** Whether `path` and `blamed` are the same key, or one lies inside the other. */
function overlaps(path: string, blamed: string): boolean {
  return (
    path === blamed ||
    blamed === '' ||
    path.startsWith(`${blamed}.`) ||
    blamed.startsWith(`${path}.`)
  );
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
  const parsed = configSchema.safeParse(withEnv);
  if (!parsed.success) {
    // A key whose variable is unset is already reported; its emptied value would only add noise.
    const blamed = new Set(issues.map((issue) => issue.path));
    issues.push(...zodIssues(parsed.error).filter((issue) => !blamed.has(issue.path)));
    // Every problem at once: the cross-key checks still run, on the config with the refused
    // values taken out. A check about a key the schema already blamed (or one inside it) would
    // only restate that problem, or judge a default the operator never chose.
    const reported = issues.map((issue) => issue.path);
    const rest = salvage(withEnv) ?? parseSections(withEnv);
    const crossKey: ConfigIssue[] = [];
    const warnings: string[] = [];
    semanticIssues(rest, envSettingsFrom(env), crossKey, warnings);
    issues.push(
      ...crossKey.filter((issue) => !reported.some((blamed) => overlaps(issue.path, blamed))),
    );
    if (rest.ui) readLogo(rest.ui.logo_file, path, issues);
    readSmtpCa(rest.auth, path, issues);
    throw new ConfigError(issues, warnings);
  }
  const derived = publicUrlFromListen(parsed.data.server.listen);
  const raw: RawConfig = {
    ...parsed.data,
    server: { ...parsed.data.server, public_url: parsed.data.server.public_url ?? derived.url },
  };
  const envSettings = envSettingsFrom(env);
  const warnings: string[] = [];
  semanticIssues(raw, envSettings, issues, warnings);
  if (parsed.data.server.public_url === null && derived.wildcard) {
    warnings.push(
      `server.public_url is not set and server.listen (${raw.server.listen}) is every interface: links and redirects use ${derived.url}, which works only on this machine; set server.public_url (or PORTCULLIS_PUBLIC_URL) to the address people use`,
    );
  }
  const logo = readLogo(raw.ui.logo_file, path, issues);
  const smtpCa = readSmtpCa(raw.auth, path, issues);
  if (issues.length > 0) throw new ConfigError(issues, warnings);

  const listenMatch = /^(.*):(\d+)$/.exec(raw.server.listen) as RegExpExecArray;
  const publicUrl = new URL(raw.server.public_url);
  const keys = raw.auth.secret_key === undefined ? null : toList(raw.auth.secret_key);
  const rules = compileRules(raw.access.rules);
  const redirectPolicy = buildRedirectPolicy(
    publicUrl,
    raw.access.rules.flatMap((rule) => toList(rule.host) ?? []),
    raw.session.cookie_domain,
  );
  if (
    publicUrl.protocol === 'http:' &&
    !['127.0.0.1', 'localhost', '[::1]'].includes(publicUrl.hostname)
  ) {
    warnings.push(
      'server.public_url is plain http: cookies are sent without Secure; use https in production',
    );
  }
  return {
    raw,
    path,
    listen: {
      host: (listenMatch[1] as string).replace(/^\[|\]$/g, ''),
      port: Number(listenMatch[2]),
    },
    publicUrl,
    publicOrigin: publicUrl.origin,
    prefix: raw.server.path_prefix,
    secureCookies: publicUrl.protocol === 'https:',
    trustedProxies: buildTrustedProxies(raw.server.trusted_proxies),
    secretKeys: keys ? keys.map((hex) => Buffer.from(hex, 'hex')) : null,
    rules,
    redirectPolicy,
    env: envSettings,
    warnings,
    logo,
    smtpCa,
  };
}
