import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { EmailTakenError, type IdentityLink, type Store, type User } from '../ports/store.js';
import type { VerifiedClaims } from './oidc-flow.js';
import { admit, type SignupPolicy } from './signup-policy.js';

export interface AccountSettings {
  signup: SignupPolicy;
  allowedDomains: readonly string[];
}

export type AccountRefusal = 'deactivated' | 'not_invited' | 'domain_not_allowed' | 'email_taken';

export type AccountOutcome =
  | { ok: true; user: User; created: boolean; linked: boolean }
  | { ok: false; reason: AccountRefusal };

const MAX_GROUPS = 256;

/** C0 controls and DEL: never legal in a header value. */
export function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * The groups a claim holds: a list of strings (or one string). A dotted name reaches into an
 * object when no claim has the whole name (Keycloak's `realm_access.roles`). Names that would
 * break the comma-separated Remote-Groups header are dropped. Null: the claim is absent.
 */
export function readGroupsClaim(
  claims: Readonly<Record<string, unknown>>,
  name: string,
): string[] | null {
  let value: unknown = claims[name];
  if (value === undefined && name.includes('.')) {
    value = name.split('.').reduce<unknown>((node, key) => {
      if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
      return (node as Record<string, unknown>)[key];
    }, claims);
  }
  if (value === undefined || value === null) return null;
  const list = Array.isArray(value) ? value : [value];
  const out = new Set<string>();
  for (const item of list) {
    if (typeof item !== 'string') continue;
    const group = item.trim();
    if (group === '' || group.length > 256 || group.includes(',') || hasControl(group)) continue;
    out.add(group);
    if (out.size >= MAX_GROUPS) break;
  }
  return [...out];
}

/**
 * Finds or makes the account a verified provider identity signs in to.
 *
 * 1. An identity already linked (issuer + `sub`) signs in to its user, whatever email it now
 *    claims; a new verified email follows along unless another account has it.
 * 2. A new identity joins the account that has its email, only because the provider asserted
 *    `email_verified` (the nOAuth takeover is an unverified, editable email claim).
 * 3. Otherwise a user is created if `auth.signup` admits the address.
 *
 * `groups` (null when this provider sends no groups claim) replaces the groups this identity
 * brought last time; groups given by an admin or SCIM stay.
 */
export async function resolveAccount(
  store: Store,
  clock: Clock,
  settings: AccountSettings,
  claims: VerifiedClaims,
  groups: string[] | null,
): Promise<AccountOutcome> {
  const now = clock.now();
  let link = await store.getIdentity(claims.issuer, claims.subject);
  let user = link ? await store.getUser(link.userId) : null;
  if (link && !user) {
    // The user was deleted; the identity is free to sign up or join again.
    await store.unlinkIdentity(claims.issuer, claims.subject);
    link = null;
  }
  let created = false;
  let linked = false;
  if (!link || !user) {
    if (!claims.emailVerified) return { ok: false, reason: 'not_invited' };
    const existing = await store.getUserByEmail(claims.email);
    const admission = admit(claims.email, existing, settings.signup, settings.allowedDomains);
    if (admission.kind === 'refuse') return { ok: false, reason: admission.reason };
    if (existing) {
      user = existing;
    } else {
      user = await store.createUser({
        id: randomUUID(),
        email: claims.email,
        name: claims.name ?? (claims.email.split('@')[0] as string),
        groups: [],
        active: true,
        verified: true,
        createdAt: now,
        lastLoginAt: null,
      });
      created = true;
    }
    link = await store.linkIdentity({
      issuer: claims.issuer,
      subject: claims.subject,
      userId: user.id,
      groups: [],
      linkedAt: now,
      lastLoginAt: now,
    });
    linked = link.userId === user.id;
    if (!linked) {
      // A concurrent sign-in of the same identity linked it first: use its user.
      user = await store.getUser(link.userId);
      if (!user) return { ok: false, reason: 'not_invited' };
    }
  }
  if (!user.active) return { ok: false, reason: 'deactivated' };

  let next: User = user;
  if (next.email !== claims.email) next = { ...next, email: claims.email };
  if (groups !== null) next = { ...next, groups: mergeGroups(next.groups, link.groups, groups) };
  if (next !== user) {
    try {
      await store.updateUser(next);
    } catch (error) {
      if (error instanceof EmailTakenError) return { ok: false, reason: 'email_taken' };
      throw error;
    }
  }
  const updated: IdentityLink = { ...link, groups: groups ?? link.groups, lastLoginAt: now };
  await store.updateIdentity(updated);
  return { ok: true, user: next, created, linked };
}

/** Drops what the provider gave last time, adds what it gives now; the rest is untouched. */
export function mergeGroups(
  current: readonly string[],
  previous: readonly string[],
  fresh: readonly string[],
): string[] {
  const dropped = new Set(previous);
  const out = current.filter((group) => !dropped.has(group));
  for (const group of fresh) if (!out.includes(group)) out.push(group);
  return out;
}
