import { isIP } from 'node:net';
import type { z } from 'zod';
import { type FileRead, type Logo, logoFrom, smtpCaFrom } from './file-values.js';
import type { ConfigIssue } from './issues.js';
import { mailIssues } from './mail-checks.js';
import { passkeyIssues, requireIssues } from './passkey-checks.js';
import { prefixCollisions } from './prefix-collisions.js';
import { parseSections, salvage } from './salvage.js';
import { configSchema, type ParsedConfig, type RawConfig, storeIsRedis } from './schema.js';

/**
 * Pure: the merged, interpolated config object in, `{ config }` or `{ issues }` out. Everything
 * that touches the disk or the process (the files a key names, the environment) is read by
 * load.ts and handed in as values, so every rule here runs in a table test without a file.
 */

/** Settings that come from the environment only (names kept from the systems portcullis replaces). */
export interface EnvSettings {
  resendApiKey: string | null;
  resendBaseUrl: string | null;
  scimUser: string | null;
  scimPassword: string | null;
  scimBearerToken: string | null;
}

export const NO_ENV: EnvSettings = {
  resendApiKey: null,
  resendBaseUrl: null,
  scimUser: null,
  scimPassword: null,
  scimBearerToken: null,
};

export interface ParseInputs {
  env?: EnvSettings;
  /** Files named by `ui.logo_file` and `...smtp.tls.ca_file`, keyed by the setting as written. */
  files?: ReadonlyMap<string, FileRead>;
  /**
   * Problems load.ts already reported (an unset variable, an unreadable secrets file): the
   * schema's complaint about the same key, or a cross-key check about it, would only restate them.
   */
  reported?: readonly ConfigIssue[];
}

/** The config that passed every check, before derive.ts precomputes what the server needs. */
export interface ValidConfig {
  raw: RawConfig;
  logo: Logo | null;
  smtpCa: Buffer | null;
  warnings: string[];
}

export type ParseResult = { config: ValidConfig } | { issues: ConfigIssue[]; warnings: string[] };

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

/**
 * `server.public_url` filled in here, after the environment's overrides, so PORTCULLIS_LISTEN
 * moves it too.
 */
function withPublicUrl(parsed: ParsedConfig): RawConfig {
  const publicUrl = parsed.server.public_url ?? publicUrlFromListen(parsed.server.listen).url;
  return { ...parsed, server: { ...parsed.server, public_url: publicUrl } };
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
  if (auth) mailIssues(auth, issues, warnings);
  if (auth) passkeyIssues(auth, server?.public_url ?? undefined, issues, warnings);
  if (auth && access) requireIssues(auth, access.rules, issues);
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
  if (server && raw.proxy)
    warnings.push(...prefixCollisions(server.path_prefix, raw.proxy.upstream));
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

/** Whether `path` and `blamed` are the same key, or one lies inside the other. */
function overlaps(path: string, blamed: string): boolean {
  return (
    path === blamed ||
    blamed === '' ||
    path.startsWith(`${blamed}.`) ||
    blamed.startsWith(`${path}.`)
  );
}

/** Validates the whole config: every problem at once, schema and cross-key, never only the first. */
export function parse(data: Record<string, unknown>, inputs: ParseInputs = {}): ParseResult {
  const env = inputs.env ?? NO_ENV;
  const files = inputs.files ?? new Map<string, FileRead>();
  const reported = inputs.reported ?? [];
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    // A key whose variable is unset is already reported; its emptied value would only add noise.
    const blamed = new Set(reported.map((issue) => issue.path));
    const issues = zodIssues(parsed.error).filter((issue) => !blamed.has(issue.path));
    // Every problem at once: the cross-key checks still run, on the config with the refused
    // values taken out. A check about a key the schema already blamed (or one inside it) would
    // only restate that problem, or judge a default the operator never chose.
    const blamedPaths = [...reported, ...issues].map((issue) => issue.path);
    const salvaged = salvage(data);
    const rest = salvaged ? withPublicUrl(salvaged) : parseSections(data);
    const crossKey: ConfigIssue[] = [];
    const warnings: string[] = [];
    semanticIssues(rest, env, crossKey, warnings);
    issues.push(
      ...crossKey.filter((issue) => !blamedPaths.some((blamed) => overlaps(issue.path, blamed))),
    );
    if (rest.ui) logoFrom(rest.ui.logo_file, files, issues);
    smtpCaFrom(rest.auth, files, issues);
    return { issues, warnings };
  }
  const raw = withPublicUrl(parsed.data);
  const derived = publicUrlFromListen(parsed.data.server.listen);
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  semanticIssues(raw, env, issues, warnings);
  if (parsed.data.server.public_url === null && derived.wildcard) {
    warnings.push(
      `server.public_url is not set and server.listen (${raw.server.listen}) is every interface: links and redirects use ${derived.url}, which works only on this machine; set server.public_url (or PORTCULLIS_PUBLIC_URL) to the address people use`,
    );
  }
  const logo = logoFrom(raw.ui.logo_file, files, issues);
  const smtpCa = smtpCaFrom(raw.auth, files, issues);
  if (issues.length > 0) return { issues, warnings };
  return { config: { raw, logo, smtpCa, warnings } };
}
