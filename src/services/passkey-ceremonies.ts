import { randomBytes } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type {
  PasskeyChallenge,
  PasskeyChallengeStore,
  PasskeyRecord,
  PasskeyStore,
} from '../ports/passkeys.js';
import type { User, UserDirectory } from '../ports/users.js';
import {
  issueChallenge,
  PASSKEY_CHALLENGE_TTL_MS,
  type PasskeyOptions,
  type PasskeySettings,
  takeChallenge,
} from './passkey-challenges.js';
import { cleanPasskeyName } from './passkey-name.js';
import {
  type AuthenticationResult,
  libraryVerdict,
  type PasskeyRefused,
  type RegistrationResult,
  refused,
} from './passkey-refusal.js';
import {
  authenticationShape,
  isTransport,
  MAX_CREDENTIAL_ID_CHARS,
  registrationShape,
  userHandleOf,
} from './passkey-response.js';

/**
 * WebAuthn ceremonies over the passkey store (W3C WebAuthn Level 3, via @simplewebauthn/server):
 * discoverable credentials, user verification required, attestation `none`. Challenges are
 * one-time, expire, and are bound to their ceremony (and, for registration or step-up, to a user).
 */
export class PasskeyCeremonies {
  private readonly ttlMs: number;

  constructor(
    protected readonly store: PasskeyStore & PasskeyChallengeStore,
    private readonly users: Pick<UserDirectory, 'getUser'>,
    private readonly clock: Clock,
    private readonly settings: PasskeySettings,
  ) {
    this.ttlMs = settings.challengeTtlMs ?? PASSKEY_CHALLENGE_TTL_MS;
  }

  /**
   * A ceremony's first steps: the challenge is taken first (a malformed or failed attempt still
   * uses it up), then the response must have the shape a browser sends.
   */
  private async begin<T>(
    challengeId: unknown,
    kind: PasskeyChallenge['kind'],
    userId: string | null,
    shape: z.ZodType<T>,
    responseJSON: unknown,
  ): Promise<{ challenge: PasskeyChallenge; data: T } | PasskeyRefused> {
    const challenge = await takeChallenge(this.store, challengeId, kind, userId);
    if (!challenge) return refused('bad_challenge');
    const parsed = shape.safeParse(responseJSON);
    if (!parsed.success) return refused('malformed', parsed.error.message);
    return { challenge, data: parsed.data };
  }

  /** What the library checks each response against: its challenge, our origins and RP ID. */
  private expected(challenge: PasskeyChallenge) {
    return {
      expectedChallenge: challenge.challenge,
      expectedOrigin: this.settings.origins,
      expectedRPID: this.settings.rpId,
    };
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
    return this.withChallenge(options, 'register', user.id);
  }

  /** Checks a `create()` response for `userId` and stores the credential under `name`. */
  async verifyRegistration(
    userId: string,
    challengeId: unknown,
    responseJSON: unknown,
    name: string,
  ): Promise<RegistrationResult> {
    const begun = await this.begin(
      challengeId,
      'register',
      userId,
      registrationShape,
      responseJSON,
    );
    if ('ok' in begun) return begun;
    const { challenge } = begun;
    const response = begun.data as RegistrationResponseJSON;
    const verdict = await libraryVerdict(
      () =>
        verifyRegistrationResponse({
          response,
          ...this.expected(challenge),
          expectedType: 'webauthn.create',
          requireUserPresence: true,
          requireUserVerification: true,
        }),
      (verified) => verified.registrationInfo,
      'attestation not verified',
      response.response.clientDataJSON,
    );
    if (!('info' in verdict)) return verdict;
    const { info } = verdict;
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
    return this.withChallenge(options, 'login', userId);
  }

  /** The options with the one-time challenge they carry, stored for the ceremony's second half. */
  private async withChallenge<O extends { challenge: string }>(
    options: O,
    kind: 'register' | 'login',
    userId: string | null,
  ): Promise<PasskeyOptions<O>> {
    const challengeId = await issueChallenge(
      this.store,
      this.clock,
      this.ttlMs,
      kind,
      userId,
      options.challenge,
    );
    return { options, challengeId };
  }

  /** Checks a `get()` response: who signed in, with which credential. */
  async verifyAuthentication(
    challengeId: unknown,
    responseJSON: unknown,
  ): Promise<AuthenticationResult> {
    const begun = await this.begin(challengeId, 'login', null, authenticationShape, responseJSON);
    if ('ok' in begun) return begun;
    const { challenge } = begun;
    const response = begun.data as AuthenticationResponseJSON;
    const record = await this.store.getPasskey(response.id);
    if (!record) return refused('unknown_credential');
    if (challenge.userId !== null && challenge.userId !== record.userId)
      return refused('wrong_user');
    const verdict = await libraryVerdict(
      () =>
        verifyAuthenticationResponse({
          response,
          ...this.expected(challenge),
          expectedType: 'webauthn.get',
          requireUserVerification: true,
          // Counter 0 here: the library would throw on a stale counter before checking the
          // signature; we check the counter ourselves after it, so only a genuinely signed
          // stale counter is reported as a possible clone.
          credential: {
            id: record.id,
            publicKey: new Uint8Array(Buffer.from(record.publicKey, 'base64url')),
            counter: 0,
          },
        }),
      (verified) => verified.authenticationInfo,
      'signature not verified',
      response.response.clientDataJSON,
    );
    if (!('info' in verdict)) return verdict;
    const { info } = verdict;
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
}
