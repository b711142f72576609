import { totpCode, totpStep } from '../../src/core/totp.js';
import type { PasskeyRecord, User } from '../../src/ports/store.js';
import type { PasskeyService } from '../../src/services/passkeys.js';
import type { SecondFactorService } from '../../src/services/second-factor.js';
import { SoftAuthenticator } from './soft-authenticator.js';

/**
 * A user's passkeys and TOTP set up through the services, as the enrol pages would after their
 * ceremonies: the fixtures of the account, admin, step-up and sudo-mode tests.
 */
export interface FactorServices {
  passkeys: Pick<
    PasskeyService,
    'registrationOptions' | 'verifyRegistration' | 'authenticationOptions' | 'verifyAuthentication'
  >;
  secondFactors: Pick<SecondFactorService, 'beginTotpEnrolment' | 'confirmTotpEnrolment'>;
}

/** A passkey for `user` on a software authenticator for `origin`; the record and the device. */
export async function enrolPasskey(
  ctx: FactorServices,
  user: User,
  origin: string,
  name: string,
  options: { backedUp?: boolean } = {},
): Promise<{ record: PasskeyRecord; device: SoftAuthenticator }> {
  const device = new SoftAuthenticator({
    origin,
    backupEligible: options.backedUp === true,
    backedUp: options.backedUp === true,
  });
  const { options: creation, challengeId } = await ctx.passkeys.registrationOptions(user);
  const result = await ctx.passkeys.verifyRegistration(
    user.id,
    challengeId,
    device.register(creation),
    name,
  );
  if (!result.ok) throw new Error(`enrolment refused: ${result.reason} ${result.detail ?? ''}`);
  return { record: result.record, device };
}

/** A discoverable passkey sign-in, as the login page runs it. */
export async function passkeySignIn(ctx: FactorServices, device: SoftAuthenticator, id: string) {
  const { options, challengeId } = await ctx.passkeys.authenticationOptions();
  return ctx.passkeys.verifyAuthentication(challengeId, device.assert(options, id));
}

/** A confirmed TOTP for `user`, its first code taken at `at`; its secret and recovery codes. */
export async function enrolTotp(
  ctx: FactorServices,
  user: User,
  at: number = Date.now(),
): Promise<{ secret: string; recoveryCodes: string[] }> {
  const begun = await ctx.secondFactors.beginTotpEnrolment(user);
  if (!begun.ok) throw new Error('TOTP enrolment refused');
  const confirmed = await ctx.secondFactors.confirmTotpEnrolment(
    user.id,
    totpCode(begun.secret, totpStep(at)),
  );
  if (!confirmed.ok) throw new Error(`TOTP confirmation refused: ${confirmed.reason}`);
  return { secret: begun.secret, recoveryCodes: confirmed.recoveryCodes };
}
