import { BlockList, isIP } from 'node:net';
import type { AccessPolicy, CompiledRule } from '../core/decide.js';
import { buildRedirectPolicy, type RedirectPolicy } from '../core/redirect.js';
import { compileRules } from '../core/rules.js';
import type { Logo } from './file-values.js';
import type { EnvSettings, ValidConfig } from './parse.js';
import type { RawConfig } from './schema.js';

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
  logo: Logo | null;
  /** `auth.magic_link.smtp.tls.ca_file`, read at load so a missing file is a config error. */
  smtpCa: Buffer | null;
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

/** Precomputes, once at start, the typed values the request paths read from a valid config. */
export function derive(valid: ValidConfig, context: { path: string; env: EnvSettings }): Config {
  const { raw } = valid;
  const warnings = [...valid.warnings];
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
    path: context.path,
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
    env: context.env,
    warnings,
    logo: valid.logo,
    smtpCa: valid.smtpCa,
  };
}

/** The policy every check and `explain` decides by: `access.*` and `anonymous_mode`. */
export function accessPolicyOf(config: Pick<Config, 'raw' | 'rules'>): AccessPolicy {
  return {
    defaultPolicy: config.raw.access.default_policy,
    rules: config.rules,
    anonymousMode: config.raw.anonymous_mode,
  };
}
