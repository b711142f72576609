import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import {
  EmailTakenError,
  type IdentityLink,
  type Store,
  type User,
  type UserInput,
} from '../ports/store.js';
import type { VerifiedClaims } from './oidc-flow.js';
import { admit, type SignupPolicy } from './signup-policy.js';

export interface AccountSettings {
  signup: SignupPolicy;
  allowedDomains: readonly string[];
  /**
   * The provider is trusted to own the addresses it marks verified (`link_by_email`): a new
   * identity may join the account that has its email, and a linked one moves its account's email.
   */
  linkByEmail: boolean;
}

/**
 * `identity_conflict`: the account with this email is linked to another subject of the same
 * issuer. `link_not_trusted`: an account has this email and the provider may not join it.
 */
export type AccountRefusal =
  | 'deactivated'
  | 'not_invited'
  | 'domain_not_allowed'
  | 'email_taken'
  | 'identity_conflict'
  | 'link_not_trusted';

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
 *    claims. A new verified email follows along only from a provider trusted with emails
 *    (`linkByEmail`), and unless another account has it.
 * 2. A new identity joins the account that has its email only when the provider is trusted
 *    with emails and asserted `email_verified`, and never when that account is linked to another
 *    subject of the same issuer: the nOAuth takeover is a second provider account presenting
 *    the victim's (editable, sometimes "verified") email.
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
    let existing = await store.getUserByEmail(claims.email);
    if (existing) {
      const refusal = await refuseJoin(store, settings, claims, existing);
      if (refusal) return { ok: false, reason: refusal };
    }
    const admission = admit(claims.email, existing, settings.signup, settings.allowedDomains);
    if (admission.kind === 'refuse') return { ok: false, reason: admission.reason };
    if (existing) {
      user = existing;
    } else {
      const fresh: UserInput = {
        id: randomUUID(),
        // Only a wish: the store makes it a valid username, or a free variant (`alice-2`).
        ...preferredUsername(claims),
        email: claims.email,
        name: claims.name ?? (claims.email.split('@')[0] as string),
        groups: [],
        active: true,
        verified: true,
        createdAt: now,
        lastLoginAt: null,
      };
      user = await store.createUser(fresh);
      created = user.id === fresh.id;
      if (!created) {
        // Someone else made an account with this email meanwhile: that is a join, not a signup.
        existing = user;
        const refusal = await refuseJoin(store, settings, claims, existing);
        if (refusal) return { ok: false, reason: refusal };
        if (!existing.active) return { ok: false, reason: 'deactivated' };
      }
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
    } else if (await linkedToOtherSubject(store, user.id, claims)) {
      // Two subjects of one issuer raced onto the same account: neither keeps it.
      await store.unlinkIdentity(claims.issuer, claims.subject);
      return { ok: false, reason: 'identity_conflict' };
    }
  }
  if (!user.active) return { ok: false, reason: 'deactivated' };

  let next: User = user;
  if (settings.linkByEmail && next.email !== claims.email) next = { ...next, email: claims.email };
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

/** The `preferred_username` claim as `createUser`'s wish, when the provider sent one. */
function preferredUsername(claims: VerifiedClaims): { username?: string } {
  const value = claims.raw.preferred_username;
  return typeof value === 'string' ? { username: value } : {};
}

/** Why a new identity may not join `existing` (the account that has its email), or null. */
async function refuseJoin(
  store: Store,
  settings: AccountSettings,
  claims: VerifiedClaims,
  existing: User,
): Promise<AccountRefusal | null> {
  if (await linkedToOtherSubject(store, existing.id, claims)) return 'identity_conflict';
  if (!settings.linkByEmail || !claims.emailVerified) return 'link_not_trusted';
  return null;
}

/** The user has an identity at this issuer under another subject. */
async function linkedToOtherSubject(
  store: Store,
  userId: string,
  claims: VerifiedClaims,
): Promise<boolean> {
  const links = await store.listUserIdentities(userId);
  return links.some((l) => l.issuer === claims.issuer && l.subject !== claims.subject);
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
