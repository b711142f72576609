import { normalizeEmail } from '../core/email.js';
import type { Group, User } from '../ports/store.js';
import { type AttrRef, getAttr, isObject } from './attribute-path.js';
import { badRequest } from './errors.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const MAX_STRING = 1024;
const MAX_EMAILS = 50;
/** The most members one group may have over SCIM (each is mirrored into a user record). */
export const MAX_MEMBERS = 10_000;

export type Json = Record<string, unknown>;

const iso = (ms: number) => new Date(ms).toISOString();

/** `caseExact` attributes (RFC 7643 §4, §8.7.1): ids and externalId; everything else ignores case. */
export function isCaseExact(ref: AttrRef): boolean {
  if (ref.attr === 'id' || ref.attr === 'externalid') return true;
  return (ref.attr === 'members' || ref.attr === 'groups') && (ref.sub ?? 'value') === 'value';
}

/**
 * A user in its SCIM form. `userName` is the email unless the client gave a different one;
 * `groups` (read-only) lists the SCIM groups among `user.groups`.
 */
export function userToScim(user: User, base: string, groups: Group[]): Json {
  const name: Json = { formatted: user.name };
  if (user.givenName !== undefined) name.givenName = user.givenName;
  if (user.familyName !== undefined) name.familyName = user.familyName;
  return {
    schemas: [USER_SCHEMA],
    id: user.id,
    ...(user.externalId !== undefined ? { externalId: user.externalId } : {}),
    userName: user.userName ?? user.email,
    name,
    displayName: user.name,
    active: user.active,
    emails: [{ value: user.email, type: 'work', primary: true }],
    groups: groups.map((g) => ({
      value: g.id,
      display: g.displayName,
      $ref: `${base}/Groups/${g.id}`,
      type: 'direct',
    })),
    meta: {
      resourceType: 'User',
      created: iso(user.createdAt),
      lastModified: iso(user.lastLoginAt ?? user.createdAt),
      location: `${base}/Users/${user.id}`,
    },
  };
}

export function groupToScim(group: Group, base: string): Json {
  return {
    schemas: [GROUP_SCHEMA],
    id: group.id,
    ...(group.externalId !== undefined ? { externalId: group.externalId } : {}),
    displayName: group.displayName,
    members: group.members.map((id) => ({
      value: id,
      $ref: `${base}/Users/${id}`,
      type: 'User',
    })),
    meta: {
      resourceType: 'Group',
      created: iso(group.createdAt),
      lastModified: iso(group.updatedAt),
      location: `${base}/Groups/${group.id}`,
    },
  };
}

function optionalString(resource: Json, name: string, label = name): string | undefined {
  const value = getAttr(resource, name.toLowerCase());
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest('invalidValue', `${label} must be a string`);
  if (value.length > MAX_STRING) throw badRequest('invalidValue', `${label} is too long`);
  return value;
}

/**
 * Entra ID sends booleans as "True"/"False" strings in PATCH values; those (in any case) pass,
 * anything else that is not a boolean is refused rather than guessed (`null` is not `true`).
 */
function toBoolean(value: unknown, label: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  throw badRequest('invalidValue', `${label} must be true or false`);
}

function checkSchemas(resource: Json, core: string): void {
  const schemas = getAttr(resource, 'schemas');
  if (schemas === undefined) return;
  if (!Array.isArray(schemas) || !schemas.every((s) => typeof s === 'string'))
    throw badRequest('invalidSyntax', 'schemas must be a list of URNs');
  const known = [core.toLowerCase(), ENTERPRISE_USER_SCHEMA.toLowerCase()];
  const lower = (schemas as string[]).map((s) => s.toLowerCase());
  if (!lower.includes(core.toLowerCase()))
    throw badRequest('invalidSyntax', `schemas must include ${core}`);
  const unknown = (schemas as string[]).find((s) => !known.includes(s.toLowerCase()));
  if (unknown) throw badRequest('invalidSyntax', `unknown schema ${unknown.slice(0, 200)}`);
}

/** The fields of a user a SCIM client may set. */
export interface UserFields {
  email: string;
  /** Exactly as the client sent it: clients compare what they read back with what they wrote. */
  userName: string;
  name: string;
  givenName?: string;
  familyName?: string;
  externalId?: string;
  /** Absent: the request did not say (PUT keeps the user's state, POST makes them active). */
  active?: boolean;
}

function pickEmail(resource: Json): string | null {
  const emails = getAttr(resource, 'emails');
  if (emails === undefined || emails === null) return null;
  if (!Array.isArray(emails)) throw badRequest('invalidValue', 'emails must be a list');
  if (emails.length > MAX_EMAILS) throw badRequest('invalidValue', 'too many emails');
  const entries = emails.map((entry) => {
    if (!isObject(entry)) throw badRequest('invalidValue', 'each email must be an object');
    const value = optionalString(entry, 'value', 'emails.value');
    const type = optionalString(entry, 'type', 'emails.type');
    const primary = getAttr(entry, 'primary');
    return {
      value,
      type: type?.toLowerCase(),
      primary: primary === undefined ? false : toBoolean(primary, 'emails.primary'),
    };
  });
  const chosen =
    entries.find((e) => e.primary && e.value) ??
    entries.find((e) => e.type === 'work' && e.value) ??
    entries.find((e) => e.value);
  if (!chosen?.value) return null;
  const email = normalizeEmail(chosen.value);
  if (!email)
    throw badRequest('invalidValue', `"${chosen.value.slice(0, 100)}" is not an email address`);
  return email;
}

/**
 * Reads a User resource (POST, PUT, or the result of a PATCH). Attributes portcullis does not
 * keep (phone numbers, addresses, the enterprise extension, passwords) are ignored.
 */
export function userFromScim(resource: unknown): UserFields {
  if (!isObject(resource)) throw badRequest('invalidSyntax', 'the body must be a JSON object');
  checkSchemas(resource, USER_SCHEMA);
  const userName = optionalString(resource, 'userName');
  if (userName === undefined || userName.trim() === '')
    throw badRequest('invalidValue', 'userName is required');
  // The email is what `emails` names (Entra ID patches `emails[type eq "work"].value` and keeps
  // its UPN as userName, often an address too); a userName that is an address stands in when
  // there are no emails (Okta's default).
  const email = pickEmail(resource) ?? normalizeEmail(userName);
  if (!email)
    throw badRequest(
      'invalidValue',
      'userName or emails[].value must be an email address: portcullis identifies people by email',
    );
  const nameValue = getAttr(resource, 'name');
  if (nameValue !== undefined && nameValue !== null && !isObject(nameValue))
    throw badRequest('invalidValue', 'name must be an object');
  const name = isObject(nameValue) ? nameValue : {};
  const givenName = optionalString(name, 'givenName', 'name.givenName');
  const familyName = optionalString(name, 'familyName', 'name.familyName');
  const formatted = optionalString(name, 'formatted', 'name.formatted');
  const displayName = optionalString(resource, 'displayName');
  const joined = [givenName, familyName].filter(Boolean).join(' ');
  const active = getAttr(resource, 'active');
  const fields: UserFields = {
    email,
    userName,
    name: (displayName || formatted || joined || (email.split('@')[0] as string)).trim(),
  };
  if (active !== undefined) fields.active = toBoolean(active, 'active');
  if (givenName !== undefined) fields.givenName = givenName;
  if (familyName !== undefined) fields.familyName = familyName;
  const externalId = optionalString(resource, 'externalId');
  if (externalId !== undefined) fields.externalId = externalId;
  return fields;
}

export interface GroupFields {
  displayName: string;
  externalId?: string;
  /** User ids, de-duplicated, in the order given. */
  members: string[];
}

export function groupFromScim(resource: unknown): GroupFields {
  if (!isObject(resource)) throw badRequest('invalidSyntax', 'the body must be a JSON object');
  checkSchemas(resource, GROUP_SCHEMA);
  const displayName = optionalString(resource, 'displayName')?.trim();
  if (!displayName) throw badRequest('invalidValue', 'displayName is required');
  if (displayName.length > 256) throw badRequest('invalidValue', 'displayName is too long');
  // A group name travels in a comma-separated header (Remote-Groups): a comma would split it.
  if ([...displayName].some((c) => c === ',' || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    throw badRequest('invalidValue', 'displayName cannot hold commas or control characters');
  const membersValue = getAttr(resource, 'members');
  if (membersValue !== undefined && membersValue !== null && !Array.isArray(membersValue))
    throw badRequest('invalidValue', 'members must be a list');
  const list = Array.isArray(membersValue) ? membersValue : [];
  if (list.length > MAX_MEMBERS)
    throw badRequest('invalidValue', `a group holds at most ${MAX_MEMBERS} members`);
  const members = new Set<string>();
  for (const member of list) {
    if (!isObject(member)) throw badRequest('invalidValue', 'each member must be an object');
    const value = optionalString(member, 'value', 'members.value');
    if (!value) throw badRequest('invalidValue', 'each member needs a value (a user id)');
    members.add(value);
  }
  const fields: GroupFields = { displayName, members: [...members] };
  const externalId = optionalString(resource, 'externalId');
  if (externalId !== undefined) fields.externalId = externalId;
  return fields;
}
