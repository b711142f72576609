import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IdentityConstraint } from '../../../core/decide.js';
import type { HeaderNames } from '../../../core/identity-headers.js';
import type { Target, TargetResult } from '../../../core/target.js';
import { TargetCache } from '../../../core/target-cache.js';
import { sendEmpty } from '../../respond.js';
import type { CheckRequest } from '../pipeline.js';

/**
 * What differs between the proxies portcullis answers (SPEC §3): which headers name the request
 * asked about, the status of "let in", how "log in" is said, and any constraint the request
 * itself carries. The decision and everything else is the check pipeline's.
 */
export interface Dialect {
  /** The metrics label. */
  readonly name: 'nginx' | 'traefik' | 'oauth2' | 'verify';
  readonly allowStatus: 200 | 202;
  /** The target a trusted proxy asked about; null when its headers are missing, a refusal when they contradict each other. */
  readTarget(req: CheckRequest): TargetResult | null;
  /** A constraint the check request adds to the policy, or null. */
  constraint(req: CheckRequest): IdentityConstraint | null;
  /**
   * "Needs login", in this dialect's words. `challenge` holds the headers any 401 carries
   * (`WWW-Authenticate`, CORS for an allowed origin); a redirect leaves them out.
   */
  sendLogin(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    login: string,
    challenge: string[],
  ): void;
  /**
   * "The app token is refused": always a 401, never a redirect (a native app or a script cannot
   * follow one to a login page), with `challenge`.
   */
  sendTokenRefusal(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    login: string,
    challenge: string[],
  ): void;
}

/** Parsed targets of every check in this process (see TargetCache). */
export const targets = new TargetCache();

/**
 * The method a proxy forwarded, upper-cased; an empty string (unknown, not GET) when it sent
 * none. Proxies send it upper-case already, and a comparison is cheaper than `toUpperCase`,
 * which V8 runs in its runtime.
 */
export function methodOf(value: string | undefined): string {
  if (value === 'GET' || value === undefined) return value ?? '';
  return value.toUpperCase();
}

export function refused(reason: string): TargetResult {
  return { ok: false, reason };
}

/**
 * The Host header, or a refusal when the request carries more than one (node keeps the first
 * and drops the rest; a proxy may have read the other one).
 */
export function singleHost(req: CheckRequest): string | TargetResult | undefined {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') seen++;
  }
  return seen > 1 ? refused('more than one Host header') : req.headers.host;
}

export function sameHost(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

export function noConstraint(): null {
  return null;
}

/**
 * nginx's wording for "log in" (a 302 from `auth_request` becomes a 500): 401 with Location. A
 * refused token is said the same way: `auth_request` reads only the status (and what
 * `auth_request_set` picks), so the body would be lost anyway.
 */
export function sendLoginLocation(
  _req: IncomingMessage,
  res: ServerResponse,
  _target: Target,
  login: string,
  challenge: string[],
): void {
  challenge.push('Location', login, 'Cache-Control', 'no-store');
  sendEmpty(res, 401, challenge);
}

/**
 * Which identity header names a check path answers with. portcullis' own paths send exactly the
 * configured `headers:`; the compatibility paths always add the names the tool they stand in for
 * sends (SPEC §3), so a migrated proxy config keeps working whatever `headers:` says.
 */
export interface CheckNames {
  names: HeaderNames;
  /** oauth2-proxy also sends X-Auth-Request-Preferred-Username: the username. */
  preferredUsername: boolean;
  /** Per-session memo key of the prepared answer built from these names. */
  memoKey: string;
}

function union(configured: readonly string[], required: readonly string[]): string[] {
  const out = [...configured];
  for (const name of required) {
    if (!out.some((known) => known.toLowerCase() === name.toLowerCase())) out.push(name);
  }
  return out;
}

/** The configured names plus a compatibility family's own (`required`). */
export function familyNames(
  configured: HeaderNames,
  family: string,
  required: HeaderNames,
  preferredUsername: boolean,
): CheckNames {
  return {
    names: {
      user: union(configured.user, required.user),
      email: union(configured.email, required.email),
      name: union(configured.name, required.name),
      groups: union(configured.groups, required.groups),
      groupsFilter: configured.groupsFilter,
      userValue: configured.userValue,
    },
    preferredUsername,
    memoKey: `allow-headers:${family}`,
  };
}
