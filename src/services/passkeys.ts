import { randomBytes } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { hashToken, newRandomToken } from '../core/one-time-token.js';
import type {
  PasskeyChallenge,
  PasskeyChallengeStore,
  PasskeyRecord,
  PasskeyStore,
} from '../ports/passkeys.js';
import type { User, UserDirectory } from '../ports/users.js';

/** Typed settings (`auth.passkey.*`, `server.public_url`), resolved by the caller. */
export interface PasskeySettings {
  /** The WebAuthn RP ID: a registrable suffix of the page's host (default: public_url's host). */
  rpId: string;
  /** Shown by the browser / authenticator while enrolling. */
  rpName: string;
  /** Exact origins a ceremony may come from (`https://auth.example.com`): public_url's origin. */
  origins: string[];
  /** How long a ceremony may take (default 5 minutes): the challenge lifetime. */
  challengeTtlMs?: number;
}

export const PASSKEY_CHALLENGE_TTL_MS = 5 * 60_000;
/** WebAuthn §5.8.3: longer credential IDs must be ignored. In base64url: ceil(1023 * 4 / 3). */
const MAX_CREDENTIAL_ID_CHARS = 1364;
const MAX_NAME_CHARS = 64;
const DEFAULT_NAME = 'Passkey';

/** Why a ceremony did not complete. Users see one generic message; logs and audits see this. */
export type PasskeyRefusal =
  /** The response is not the JSON shape a browser sends. */
  | 'malformed'
  /** Unknown, used, expired, or for another ceremony kind or user. */
  | 'bad_challenge'
  /** Signature, origin, RP ID, flags, challenge echo, attestation: the library refused. */
  | 'verification_failed'
  /** Registration: this credential ID is already registered (to anyone). */
  | 'credential_in_use'
  /** Sign-in: no such credential (removed, or never registered here). */
  | 'unknown_credential'
  /**
   * Sign-in: a signature counter that did not increase (WebAuthn §6.1.1). The signature was
   * valid, so the authenticator may have been cloned: callers should audit it.
   */
  | 'counter_regressed'
  /** The account is deactivated or gone. */
  | 'inactive_user'
  /** Sign-in: the user handle does not name the credential's owner. */
  | 'user_handle_mismatch'
  /** Sign-in bound to a user (step-up): the credential belongs to someone else. */
  | 'wrong_user';

export interface PasskeyRefused {
  ok: false;
  reason: PasskeyRefusal;
  /** The library's or our detail, for logs only (never shown to the user). */
  detail?: string;
  /** `counter_regressed`: the credential concerned, so callers can audit a possible clone. */
  record?: PasskeyRecord;
}

export interface PasskeyOptions<T> {
  /** What the page hands to `navigator.credentials` (via `PublicKeyCredential.parse*FromJSON`). */
  options: T;
  /**
   * The handle the browser must send back with the response (a cookie or a form field): 256
   * random bits; the store keeps only its hash.
   */
  challengeId: string;
}

export type RegistrationResult = { ok: true; record: PasskeyRecord } | PasskeyRefused;
export type AuthenticationResult = { ok: true; user: User; record: PasskeyRecord } | PasskeyRefused;

const base64url = z.string().regex(/^[A-Za-z0-9_-]*$/);

/*
 * The shapes browsers send (WebAuthn L3 §5.1 toJSON), checked before the library sees them so
 * hostile JSON is refused as `malformed` and never throws somewhere unexpected.
 */
const registrationShape = z.object({
  id: base64url.min(1).max(MAX_CREDENTIAL_ID_CHARS),
  rawId: base64url.min(1).max(MAX_CREDENTIAL_ID_CHARS),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url.min(1).max(8192),
    attestationObject: base64url.min(1).max(65536),
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
});

const authenticationShape = z.object({
  id: base64url.min(1).max(MAX_CREDENTIAL_ID_CHARS),
  rawId: base64url.min(1).max(MAX_CREDENTIAL_ID_CHARS),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url.min(1).max(8192),
    authenticatorData: base64url.min(1).max(65536),
    signature: base64url.min(1).max(1024),
    userHandle: base64url.max(128).nullable().optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
});

const TRANSPORTS: readonly AuthenticatorTransportFuture[] = [
  'ble',
  'cable',
  'hybrid',
  'internal',
  'nfc',
  'smart-card',
  'usb',
];

function isTransport(value: string): value is AuthenticatorTransportFuture {
  return (TRANSPORTS as readonly string[]).includes(value);
}

/** The WebAuthn user handle: the user id's UTF-8 bytes (a random id, no personal data, §14.6.1). */
function userHandleOf(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId, 'utf8'));
}

/**
 * A user's label for a credential: control and format characters dropped, whitespace folded,
 * at most MAX_NAME_CHARS code points; empty becomes DEFAULT_NAME.
 */
export function cleanPasskeyName(name: string): string {
  const cleaned = name
    .normalize('NFC')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ')
    .replace(/\s+/gu, ' ')
    .trim();
  const limited = [...cleaned].slice(0, MAX_NAME_CHARS).join('').trim();
  return limited === '' ? DEFAULT_NAME : limited;
}

function refused(reason: PasskeyRefusal, detail?: string, record?: PasskeyRecord): PasskeyRefused {
  return { ok: false, reason, ...(detail ? { detail } : {}), ...(record ? { record } : {}) };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** clientDataJSON.crossOrigin: true when the ceremony ran in a cross-origin iframe. */
function isCrossOrigin(clientDataJSON: string): boolean {
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as unknown;
    return typeof data === 'object' && data !== null && 'crossOrigin' in data
      ? data.crossOrigin === true
      : false;
  } catch {
    return true;
  }
}

/**
 * WebAuthn ceremonies over the passkey store (W3C WebAuthn Level 3, via @simplewebauthn/server):
 * discoverable credentials, user verification required, attestation `none`. Challenges are
 * one-time, expire, and are bound to their ceremony (and, for registration or step-up, to a user).
 */
export class PasskeyService {
  private readonly ttlMs: number;

  constructor(
    private readonly store: PasskeyStore & PasskeyChallengeStore,
    private readonly users: Pick<UserDirectory, 'getUser'>,
    private readonly clock: Clock,
    private readonly settings: PasskeySettings,
  ) {
    this.ttlMs = settings.challengeTtlMs ?? PASSKEY_CHALLENGE_TTL_MS;
  }

  /**
   * Stores `challenge` (the options' base64url challenge, exactly as clientDataJSON echoes it)
   * under a fresh handle and returns the handle.
   */
  private async issue(
    kind: PasskeyChallenge['kind'],
    userId: string | null,
    challenge: string,
  ): Promise<string> {
    const challengeId = newRandomToken();
    await this.store.putPasskeyChallenge(hashToken(challengeId), {
      challenge,
      kind,
      userId,
      expiresAt: this.clock.now() + this.ttlMs,
    });
    return challengeId;
  }

  /** Takes the challenge (one use, whatever the outcome) and checks what it was issued for. */
  private async take(
    challengeId: unknown,
    kind: PasskeyChallenge['kind'],
    userId: string | null,
  ): Promise<PasskeyChallenge | null> {
    if (typeof challengeId !== 'string' || challengeId.length === 0 || challengeId.length > 128)
      return null;
    const challenge = await this.store.takePasskeyChallenge(hashToken(challengeId));
    if (!challenge || challenge.kind !== kind) return null;
    if (kind === 'register' && challenge.userId !== userId) return null;
    return challenge;
  }

  /**
   * Options for `navigator.credentials.create()` for `user`; the user's existing credentials are
   * excluded so one authenticator is not enrolled twice.
   */
  async registrationOptions(
    user: Pick<User, 'id' | 'email' | 'name'>,
  ): Promise<PasskeyOptions<PublicKeyCredentialCreationOptionsJSON>> {
    const existing = await this.store.listUserPasskeys(user.id);
    const options = await generateRegistrationOptions({
      rpName: this.settings.rpName,
      rpID: this.settings.rpId,
      userName: user.email,
      userDisplayName: user.name || user.email,
      userID: userHandleOf(user.id),
      challenge: randomBytes(32),
      timeout: this.ttlMs,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({
        id: p.id,
        transports: p.transports.filter(isTransport),
      })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      // ES256 and RS256 cover every platform authenticator; EdDSA for security keys that prefer it.
      supportedAlgorithmIDs: [-7, -8, -257],
    });
    return { options, challengeId: await this.issue('register', user.id, options.challenge) };
  }

  /** Checks a `create()` response for `userId` and stores the credential under `name`. */
  async verifyRegistration(
    userId: string,
    challengeId: unknown,
    responseJSON: unknown,
    name: string,
  ): Promise<RegistrationResult> {
    // The challenge goes first: a malformed or failed attempt still uses it up.
    const challenge = await this.take(challengeId, 'register', userId);
    if (!challenge) return refused('bad_challenge');
    const parsed = registrationShape.safeParse(responseJSON);
    if (!parsed.success) return refused('malformed', parsed.error.message);
    const response = parsed.data as RegistrationResponseJSON;
    let info: Awaited<ReturnType<typeof verifyRegistrationResponse>>['registrationInfo'];
    try {
      const verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge.challenge,
        expectedOrigin: this.settings.origins,
        expectedRPID: this.settings.rpId,
        expectedType: 'webauthn.create',
        requireUserPresence: true,
        requireUserVerification: true,
      });
      if (!verified.verified) return refused('verification_failed', 'attestation not verified');
      info = verified.registrationInfo;
    } catch (error) {
      return refused('verification_failed', messageOf(error));
    }
    if (isCrossOrigin(response.response.clientDataJSON))
      return refused('verification_failed', 'cross-origin ceremony');
    // The ID the authenticator signed into authData must be the one the client reports.
    if (info.credential.id !== response.id || response.id !== response.rawId)
      return refused('verification_failed', 'credential id differs from authenticator data');
    if (info.credential.id.length > MAX_CREDENTIAL_ID_CHARS)
      return refused('verification_failed', 'credential id too long');
    const user = await this.users.getUser(userId);
    if (!user?.active) return refused('inactive_user');
    const record: PasskeyRecord = {
      id: info.credential.id,
      userId,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: (response.response.transports ?? []).filter(isTransport),
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      name: cleanPasskeyName(name),
      createdAt: this.clock.now(),
      lastUsedAt: null,
      aaguid: info.aaguid,
    };
    // WebAuthn §7.1 step 26: a credential ID registered before (to this or any user) is refused.
    if (!(await this.store.createPasskey(record))) return refused('credential_in_use');
    return { ok: true, record };
  }

  /**
   * Options for `navigator.credentials.get()`. Without a user: discoverable sign-in (empty
   * allowCredentials; the authenticator offers its passkeys, also through autofill). With
   * `userId`: a step-up for a signed-in user, bound to them and listing their credentials.
   */
  async authenticationOptions(
    bind: { userId?: string } = {},
  ): Promise<PasskeyOptions<PublicKeyCredentialRequestOptionsJSON>> {
    const userId = bind.userId ?? null;
    const allow = userId === null ? [] : await this.store.listUserPasskeys(userId);
    const options = await generateAuthenticationOptions({
      rpID: this.settings.rpId,
      challenge: randomBytes(32),
      timeout: this.ttlMs,
      userVerification: 'required',
      allowCredentials: allow.map((p) => ({
        id: p.id,
        transports: p.transports.filter(isTransport),
      })),
    });
    return { options, challengeId: await this.issue('login', userId, options.challenge) };
  }

  /** Checks a `get()` response: who signed in, with which credential. */
  async verifyAuthentication(
    challengeId: unknown,
    responseJSON: unknown,
  ): Promise<AuthenticationResult> {
    const challenge = await this.take(challengeId, 'login', null);
    if (!challenge) return refused('bad_challenge');
    const parsed = authenticationShape.safeParse(responseJSON);
    if (!parsed.success) return refused('malformed', parsed.error.message);
    const response = parsed.data as AuthenticationResponseJSON;
    const record = await this.store.getPasskey(response.id);
    if (!record) return refused('unknown_credential');
    if (challenge.userId !== null && challenge.userId !== record.userId)
      return refused('wrong_user');
    let info: Awaited<ReturnType<typeof verifyAuthenticationResponse>>['authenticationInfo'];
    try {
      const verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge.challenge,
        expectedOrigin: this.settings.origins,
        expectedRPID: this.settings.rpId,
        expectedType: 'webauthn.get',
        requireUserVerification: true,
        // Counter 0 here: the library would throw on a stale counter before checking the
        // signature; we check the counter ourselves after it, so only a genuinely signed stale
        // counter is reported as a possible clone.
        credential: {
          id: record.id,
          publicKey: new Uint8Array(Buffer.from(record.publicKey, 'base64url')),
          counter: 0,
        },
      });
      if (!verified.verified) return refused('verification_failed', 'signature not verified');
      info = verified.authenticationInfo;
    } catch (error) {
      return refused('verification_failed', messageOf(error));
    }
    if (isCrossOrigin(response.response.clientDataJSON))
      return refused('verification_failed', 'cross-origin ceremony');
    // WebAuthn §7.2 step 6: the user handle (not covered by the signature, so checked after it)
    // must be present when the user was not named before the ceremony, and name the owner.
    const handle = response.response.userHandle;
    if (challenge.userId === null && !handle) return refused('user_handle_mismatch');
    if (handle && Buffer.from(handle, 'base64url').toString('utf8') !== record.userId)
      return refused('user_handle_mismatch');
    // §6.1.3: backup eligibility is fixed at creation; a change means another authenticator.
    if (info.credentialDeviceType !== record.deviceType)
      return refused('verification_failed', 'backup eligibility changed');
    const user = await this.users.getUser(record.userId);
    if (!user?.active) return refused('inactive_user');
    // §6.1.1: a non-zero counter must grow. The store checks and writes it in one step, so two
    // replays of one signed assertion racing on two instances cannot both pass.
    const at = this.clock.now();
    const stale = (info.newCounter > 0 || record.counter > 0) && info.newCounter <= record.counter;
    if (
      stale ||
      !(await this.store.updatePasskeyCounter(
        record.id,
        info.newCounter,
        info.credentialBackedUp,
        at,
      ))
    ) {
      const current = (await this.store.getPasskey(record.id)) ?? record;
      return refused(
        'counter_regressed',
        `counter ${info.newCounter}, stored ${current.counter}`,
        current,
      );
    }
    return {
      ok: true,
      user,
      record: {
        ...record,
        counter: info.newCounter,
        backedUp: info.credentialBackedUp,
        lastUsedAt: record.lastUsedAt === null ? at : Math.max(at, record.lastUsedAt),
      },
    };
  }

  /** The user's passkeys, oldest first. */
  list(userId: string): Promise<PasskeyRecord[]> {
    return this.store.listUserPasskeys(userId);
  }

  /** Renames one of the user's passkeys; false when it is not theirs (or gone). */
  rename(userId: string, id: string, name: string): Promise<boolean> {
    return this.store.renamePasskey(id, userId, cleanPasskeyName(name));
  }

  /** Removes one of the user's passkeys; the removed record, or null when it is not theirs. */
  remove(userId: string, id: string): Promise<PasskeyRecord | null> {
    return this.store.removePasskey(id, userId);
  }

  /** Admin: removes one passkey whoever owns it. */
  removeAny(id: string): Promise<PasskeyRecord | null> {
    return this.store.removePasskey(id);
  }

  /** Admin (and user deletion): removes every passkey of the user. */
  removeAll(userId: string): Promise<PasskeyRecord[]> {
    return this.store.removeUserPasskeys(userId);
  }
}
