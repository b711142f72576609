import type { AppTokenRecord, AppTokenStore } from '../ports/app-tokens.js';
import type { AuditEntry, AuditTrail } from '../ports/audit.js';
import type { Counters } from '../ports/counters.js';
import type { Group, GroupDirectory, GroupPage } from '../ports/groups.js';
import type { IdentityDirectory, IdentityLink } from '../ports/identities.js';
import type { LinkFloors } from '../ports/link-floors.js';
import type {
  PasskeyChallenge,
  PasskeyChallengeStore,
  PasskeyRecord,
  PasskeyStore,
} from '../ports/passkeys.js';
import type { SecondFactorRecord, SecondFactorStore } from '../ports/second-factors.js';
import type { Session, SessionStore } from '../ports/sessions.js';
import type { Store } from '../ports/store.js';
import type { StoreHealth } from '../ports/store-health.js';
import type { TokenRecord, TokenStore } from '../ports/tokens.js';
import type {
  SetUsernameResult,
  User,
  UserDirectory,
  UserInput,
  UserPage,
} from '../ports/users.js';

/** One object per port; an adapter builds them over its shared state. */
export interface StoreParts {
  sessions: SessionStore;
  tokens: TokenStore;
  appTokens: AppTokenStore;
  floors: LinkFloors;
  passkeys: PasskeyStore & PasskeyChallengeStore;
  secondFactors: SecondFactorStore;
  users: UserDirectory;
  groups: GroupDirectory;
  identities: IdentityDirectory;
  audit: AuditTrail;
  counters: Counters;
  health: StoreHealth;
}

/**
 * The one `Store` callers hold, forwarding each method to its port's object. Both adapters
 * extend it, so the forwarding is written once and an adapter's files are only its ports.
 */
export abstract class ComposedStore implements Store {
  abstract readonly kind: 'memory' | 'redis';
  private readonly sessions: SessionStore;
  private readonly tokens: TokenStore;
  private readonly appTokens: AppTokenStore;
  private readonly floors: LinkFloors;
  private readonly passkeys: PasskeyStore & PasskeyChallengeStore;
  private readonly secondFactors: SecondFactorStore;
  private readonly users: UserDirectory;
  private readonly groups: GroupDirectory;
  private readonly identities: IdentityDirectory;
  private readonly audit: AuditTrail;
  private readonly counters: Counters;
  private readonly health: StoreHealth;

  constructor(parts: StoreParts) {
    this.sessions = parts.sessions;
    this.tokens = parts.tokens;
    this.appTokens = parts.appTokens;
    this.floors = parts.floors;
    this.passkeys = parts.passkeys;
    this.secondFactors = parts.secondFactors;
    this.users = parts.users;
    this.groups = parts.groups;
    this.identities = parts.identities;
    this.audit = parts.audit;
    this.counters = parts.counters;
    this.health = parts.health;
  }

  createSession(session: Session): Promise<void> {
    return this.sessions.createSession(session);
  }
  getSession(id: string): Promise<Session | null> {
    return this.sessions.getSession(id);
  }
  touchSession(id: string, lastSeenAt: number): Promise<void> {
    return this.sessions.touchSession(id, lastSeenAt);
  }
  addSessionAmr(id: string, methods: readonly string[]): Promise<boolean> {
    return this.sessions.addSessionAmr(id, methods);
  }
  deleteSession(id: string): Promise<void> {
    return this.sessions.deleteSession(id);
  }
  listUserSessions(userId: string): Promise<Session[]> {
    return this.sessions.listUserSessions(userId);
  }
  deleteUserSessions(userId: string): Promise<string[]> {
    return this.sessions.deleteUserSessions(userId);
  }
  onSessionRevoked(listener: (sessionId: string) => void): void {
    this.sessions.onSessionRevoked(listener);
  }

  putToken(hash: string, record: TokenRecord): Promise<void> {
    return this.tokens.putToken(hash, record);
  }
  consumeToken(hash: string): Promise<TokenRecord | null> {
    return this.tokens.consumeToken(hash);
  }
  peekToken(hash: string): Promise<TokenRecord | null> {
    return this.tokens.peekToken(hash);
  }
  markUsed(key: string, expiresAt: number): Promise<boolean> {
    return this.tokens.markUsed(key, expiresAt);
  }
  readToken(hash: string): Promise<TokenRecord | null> {
    return this.tokens.readToken(hash);
  }
  isMarkedUsed(key: string): Promise<boolean> {
    return this.tokens.isMarkedUsed(key);
  }

  createAppToken(record: AppTokenRecord): Promise<void> {
    return this.appTokens.createAppToken(record);
  }
  findAppTokenByHash(hash: string): Promise<AppTokenRecord | null> {
    return this.appTokens.findAppTokenByHash(hash);
  }
  getAppToken(id: string): Promise<AppTokenRecord | null> {
    return this.appTokens.getAppToken(id);
  }
  listUserAppTokens(userId: string): Promise<AppTokenRecord[]> {
    return this.appTokens.listUserAppTokens(userId);
  }
  revokeAppToken(id: string, at: number): Promise<AppTokenRecord | null> {
    return this.appTokens.revokeAppToken(id, at);
  }
  revokeUserAppTokens(userId: string, at: number): Promise<AppTokenRecord[]> {
    return this.appTokens.revokeUserAppTokens(userId, at);
  }
  touchAppToken(id: string, at: number): Promise<void> {
    return this.appTokens.touchAppToken(id, at);
  }

  nextLinkStamp(email: string, atLeast: number, keepMs: number | null): Promise<number> {
    return this.floors.nextLinkStamp(email, atLeast, keepMs);
  }
  raiseLinkFloor(email: string, stamp: number, keepMs: number): Promise<void> {
    return this.floors.raiseLinkFloor(email, stamp, keepMs);
  }
  getLinkFloor(email: string): Promise<number> {
    return this.floors.getLinkFloor(email);
  }

  createPasskey(record: PasskeyRecord): Promise<boolean> {
    return this.passkeys.createPasskey(record);
  }
  getPasskey(id: string): Promise<PasskeyRecord | null> {
    return this.passkeys.getPasskey(id);
  }
  listUserPasskeys(userId: string): Promise<PasskeyRecord[]> {
    return this.passkeys.listUserPasskeys(userId);
  }
  updatePasskeyCounter(
    id: string,
    counter: number,
    backedUp: boolean,
    at: number,
  ): Promise<boolean> {
    return this.passkeys.updatePasskeyCounter(id, counter, backedUp, at);
  }
  renamePasskey(id: string, userId: string, name: string): Promise<boolean> {
    return this.passkeys.renamePasskey(id, userId, name);
  }
  removePasskey(id: string, userId?: string): Promise<PasskeyRecord | null> {
    return this.passkeys.removePasskey(id, userId);
  }
  removeUserPasskeys(userId: string): Promise<PasskeyRecord[]> {
    return this.passkeys.removeUserPasskeys(userId);
  }
  putPasskeyChallenge(key: string, challenge: PasskeyChallenge): Promise<void> {
    return this.passkeys.putPasskeyChallenge(key, challenge);
  }
  takePasskeyChallenge(key: string): Promise<PasskeyChallenge | null> {
    return this.passkeys.takePasskeyChallenge(key);
  }

  getSecondFactors(userId: string): Promise<SecondFactorRecord | null> {
    return this.secondFactors.getSecondFactors(userId);
  }
  setPendingTotp(userId: string, secretEnc: string): Promise<boolean> {
    return this.secondFactors.setPendingTotp(userId, secretEnc);
  }
  confirmTotp(
    userId: string,
    secretEnc: string,
    step: number,
    confirmedAt: number,
    recoveryHashes: readonly string[],
  ): Promise<boolean> {
    return this.secondFactors.confirmTotp(userId, secretEnc, step, confirmedAt, recoveryHashes);
  }
  recordTotpStep(userId: string, step: number): Promise<boolean> {
    return this.secondFactors.recordTotpStep(userId, step);
  }
  consumeRecoveryCode(userId: string, hash: string): Promise<boolean> {
    return this.secondFactors.consumeRecoveryCode(userId, hash);
  }
  replaceRecoveryCodes(userId: string, recoveryHashes: readonly string[]): Promise<boolean> {
    return this.secondFactors.replaceRecoveryCodes(userId, recoveryHashes);
  }
  removeSecondFactors(userId: string): Promise<void> {
    return this.secondFactors.removeSecondFactors(userId);
  }

  getUser(id: string): Promise<User | null> {
    return this.users.getUser(id);
  }
  getUserByEmail(email: string): Promise<User | null> {
    return this.users.getUserByEmail(email);
  }
  getUserByUsername(username: string): Promise<User | null> {
    return this.users.getUserByUsername(username);
  }
  createUser(user: UserInput): Promise<User> {
    return this.users.createUser(user);
  }
  updateUser(user: UserInput): Promise<void> {
    return this.users.updateUser(user);
  }
  setUsername(id: string, username: string): Promise<SetUsernameResult> {
    return this.users.setUsername(id, username);
  }
  updateUserGroups(id: string, change: (groups: readonly string[]) => string[]): Promise<boolean> {
    return this.users.updateUserGroups(id, change);
  }
  listUsers(query: { search?: string; offset: number; limit: number }): Promise<UserPage> {
    return this.users.listUsers(query);
  }
  /**
   * The account and what only it could use: its passkeys (so the authenticator can register
   * for another account later) and its second factors. Its sessions and app tokens are refused
   * already (no such user) and expire by themselves.
   */
  async deleteUser(id: string): Promise<void> {
    await this.users.deleteUser(id);
    await this.passkeys.removeUserPasskeys(id);
    await this.secondFactors.removeSecondFactors(id);
  }

  getGroup(id: string): Promise<Group | null> {
    return this.groups.getGroup(id);
  }
  getGroupByName(displayName: string): Promise<Group | null> {
    return this.groups.getGroupByName(displayName);
  }
  createGroup(group: Group): Promise<Group> {
    return this.groups.createGroup(group);
  }
  updateGroup(group: Group): Promise<Group> {
    return this.groups.updateGroup(group);
  }
  deleteGroup(id: string, version?: number): Promise<void> {
    return this.groups.deleteGroup(id, version);
  }
  listGroups(query: { offset: number; limit: number }): Promise<GroupPage> {
    return this.groups.listGroups(query);
  }

  getIdentity(issuer: string, subject: string): Promise<IdentityLink | null> {
    return this.identities.getIdentity(issuer, subject);
  }
  linkIdentity(link: IdentityLink): Promise<IdentityLink> {
    return this.identities.linkIdentity(link);
  }
  updateIdentity(link: IdentityLink): Promise<void> {
    return this.identities.updateIdentity(link);
  }
  unlinkIdentity(issuer: string, subject: string): Promise<void> {
    return this.identities.unlinkIdentity(issuer, subject);
  }
  listUserIdentities(userId: string): Promise<IdentityLink[]> {
    return this.identities.listUserIdentities(userId);
  }

  appendAudit(userId: string, entry: AuditEntry): Promise<void> {
    return this.audit.appendAudit(userId, entry);
  }
  listAudit(userId: string, limit: number): Promise<AuditEntry[]> {
    return this.audit.listAudit(userId, limit);
  }

  hit(key: string, windowMs: number): Promise<number> {
    return this.counters.hit(key, windowMs);
  }

  ping(): Promise<void> {
    return this.health.ping();
  }
  ready(): Promise<boolean> {
    return this.health.ready();
  }
  onAvailability(listener: (available: boolean) => void): void {
    this.health.onAvailability(listener);
  }
  close(): Promise<void> {
    return this.health.close();
  }
}
