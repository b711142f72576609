import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/core/clock.js';
import type { Store, User } from '../../src/ports/store.js';
import {
  cleanPasskeyName,
  PASSKEY_CHALLENGE_TTL_MS,
  type PasskeyRefusal,
  PasskeyService,
} from '../../src/services/passkeys.js';
import { FLAG, SoftAuthenticator, type Tamper } from '../helpers/soft-authenticator.js';
import { storeKinds } from '../helpers/store-kinds.js';

const RP_ID = 'example.com';
const ORIGIN = 'https://auth.example.com';

const malformed = JSON.parse(
  readFileSync(new URL('../fixtures/passkey-malformed-responses.json', import.meta.url), 'utf8'),
) as { whole: unknown[]; authentication: object[]; registration: object[] };

async function addUser(store: Store, clock: ManualClock, email: string): Promise<User> {
  return store.createUser({
    id: `user-${randomBytes(6).toString('hex')}`,
    email,
    name: email.split('@')[0] as string,
    groups: [],
    active: true,
    verified: true,
    createdAt: clock.now(),
    lastLoginAt: null,
  });
}

/** `over` merged onto `base`, one level into `response` too; `$ID` becomes `id`. */
function merged(base: object, over: unknown, id: string): unknown {
  const text = JSON.stringify(over).replaceAll('$ID', id);
  const patch = JSON.parse(text) as Record<string, unknown>;
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const b = base as Record<string, unknown>;
  const response =
    typeof patch.response === 'object' && patch.response !== null && !Array.isArray(patch.response)
      ? { ...(b.response as object), ...(patch.response as object) }
      : (patch.response ?? b.response);
  return { ...b, ...patch, response };
}

/** A table row: `tamper` is refused with `reason`. */
interface RefusalCase {
  name: string;
  reason: PasskeyRefusal;
  tamper: Tamper;
}
const refused = (
  name: string,
  tamper: Tamper,
  reason: PasskeyRefusal = 'verification_failed',
): RefusalCase => ({ name, reason, tamper });
/** What is refused alike when registering and when signing in. */
const SHARED_REFUSALS: RefusalCase[] = [
  refused('wrong origin', { origin: 'https://evil.example.net' }),
  refused('lookalike origin', { origin: `${ORIGIN}.evil.net` }),
  refused('plain http origin', { origin: 'http://auth.example.com' }),
  refused('wrong RP ID hash', { rpId: 'evil.net' }),
  refused('another challenge signed', { challenge: 'AAAA' }),
  refused('cross-origin iframe', { crossOrigin: true }),
];

describe.each(storeKinds('pksvc'))('PasskeyService on $name', (kind) => {
  beforeAll(() => kind.setup());
  afterAll(() => kind.teardown());
  afterEach(() => kind.closeOpened());

  async function setup(
    authenticator: ConstructorParameters<typeof SoftAuthenticator>[0] = {
      origin: ORIGIN,
    },
  ) {
    const { store, peer, clock } = await kind.open();
    const settings = { rpId: RP_ID, rpName: 'Portcullis', origins: [ORIGIN] };
    const service = new PasskeyService(store, store, clock, settings);
    // Another instance on the same store: what one accepts or removes, the other sees.
    const other = new PasskeyService(peer, peer, clock, settings);
    const alice = await addUser(store, clock, 'alice@example.com');
    const bob = await addUser(store, clock, 'bob@example.com');
    const device = new SoftAuthenticator(authenticator);

    async function enrol(user: User, auth = device, tamper: Tamper = {}, name = 'Laptop') {
      const { options, challengeId } = await service.registrationOptions(user);
      return service.verifyRegistration(user.id, challengeId, auth.register(options, tamper), name);
    }
    async function enrolled(user: User, auth = device) {
      const result = await enrol(user, auth);
      if (!result.ok) throw new Error(`enrol: ${result.reason} ${result.detail ?? ''}`);
      return result.record;
    }
    async function signIn(id?: string, tamper: Tamper = {}, auth = device, on = service) {
      const { options, challengeId } = await on.authenticationOptions();
      return on.verifyAuthentication(challengeId, auth.assert(options, id, tamper));
    }
    return { store, peer, clock, service, other, alice, bob, device, enrol, enrolled, signIn };
  }

  describe('registration', () => {
    it('offers options for a discoverable, user-verified credential without attestation', async () => {
      const { service, alice, enrolled } = await setup();
      const first = await enrolled(alice);
      const { options, challengeId } = await service.registrationOptions(alice);
      expect(challengeId).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(options.rp).toEqual({ id: RP_ID, name: 'Portcullis' });
      expect(options.user.name).toBe('alice@example.com');
      expect(Buffer.from(options.user.id, 'base64url').toString()).toBe(alice.id);
      expect(options.attestation).toBe('none');
      expect(options.authenticatorSelection).toMatchObject({
        residentKey: 'required',
        requireResidentKey: true,
        userVerification: 'required',
      });
      expect(options.excludeCredentials).toEqual([
        { id: first.id, type: 'public-key', transports: ['internal', 'hybrid'] },
      ]);
      expect(options.timeout).toBe(PASSKEY_CHALLENGE_TTL_MS);
      expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });

    it('stores the credential with its key, counter, flags and a cleaned name', async () => {
      const { alice, clock, enrol, store, device } = await setup({
        origin: ORIGIN,
        backupEligible: true,
        backedUp: true,
      });
      const result = await enrol(alice, device, {}, '  Firefox\u0000 on\n\tLinux  ');
      if (!result.ok) throw new Error(result.reason);
      expect(result.record).toEqual({
        id: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        userId: alice.id,
        publicKey: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
        counter: 0,
        transports: ['internal', 'hybrid'],
        deviceType: 'multiDevice',
        backedUp: true,
        name: 'Firefox on Linux',
        createdAt: clock.now(),
        lastUsedAt: null,
        aaguid: '00000000-0000-0000-0000-000000000000',
      });
      expect(await store.getPasskey(result.record.id)).toEqual(result.record);
      expect(device.credentials.has(result.record.id)).toBe(true);
    });

    it("refuses another user's credential ID and leaves the owner's passkey untouched", async () => {
      const { alice, bob, enrolled, enrol, store, signIn } = await setup();
      const own = await enrolled(alice);
      const attacker = new SoftAuthenticator({ origin: ORIGIN });
      const result = await enrol(bob, attacker, { credentialId: own.id });
      expect(result).toMatchObject({ ok: false, reason: 'credential_in_use' });
      expect(await store.getPasskey(own.id)).toEqual(own);
      expect(await store.listUserPasskeys(bob.id)).toEqual([]);
      expect(await signIn(own.id)).toMatchObject({ ok: true, user: { id: alice.id } });
    });

    it('refuses the same credential registered twice by its own user', async () => {
      const { alice, enrolled, enrol, store } = await setup();
      const own = await enrolled(alice);
      const again = new SoftAuthenticator({ origin: ORIGIN });
      expect(await enrol(alice, again, { credentialId: own.id })).toMatchObject({
        ok: false,
        reason: 'credential_in_use',
      });
      expect(await store.listUserPasskeys(alice.id)).toEqual([own]);
    });

    const registrationTable: RefusalCase[] = [
      ...SHARED_REFUSALS,
      refused('RP ID hash of a subdomain', { rpId: 'auth.example.com' }),
      refused('UV flag missing', { flags: FLAG.UP | FLAG.AT }),
      refused('UP flag missing', { flags: FLAG.UV | FLAG.AT }),
      refused('get type in create', { type: 'webauthn.get' }),
      refused('reported ID differs from authenticator data', {
        reportId: randomBytes(32).toString('base64url'),
      }),
    ];
    it.each(registrationTable)('refuses: $name', async ({ reason, tamper }) => {
      const { alice, enrol, store } = await setup();
      expect(await enrol(alice, undefined, tamper)).toMatchObject({ ok: false, reason });
      expect(await store.listUserPasskeys(alice.id)).toEqual([]);
    });

    it("refuses a challenge issued for another user's enrolment", async () => {
      const { service, alice, bob, device } = await setup();
      const { options, challengeId } = await service.registrationOptions(alice);
      const response = device.register(options);
      expect(await service.verifyRegistration(bob.id, challengeId, response, 'x')).toMatchObject({
        reason: 'bad_challenge',
      });
    });

    it('refuses a challenge used twice, even after a failed first use', async () => {
      const { service, alice, device } = await setup();
      const { options, challengeId } = await service.registrationOptions(alice);
      const bad = device.register(options, { origin: 'https://evil.example.net' });
      expect(await service.verifyRegistration(alice.id, challengeId, bad, 'x')).toMatchObject({
        reason: 'verification_failed',
      });
      const good = device.register(options);
      expect(await service.verifyRegistration(alice.id, challengeId, good, 'x')).toMatchObject({
        reason: 'bad_challenge',
      });
    });

    it('refuses an expired challenge and a sign-in challenge', async () => {
      const { service, alice, device, clock, other } = await setup();
      const late = await service.registrationOptions(alice);
      clock.advance(PASSKEY_CHALLENGE_TTL_MS);
      expect(
        await other.verifyRegistration(
          alice.id,
          late.challengeId,
          device.register(late.options),
          'x',
        ),
      ).toMatchObject({ reason: 'bad_challenge' });
      const login = await service.authenticationOptions();
      const create = await service.registrationOptions(alice);
      const response = device.register({ ...create.options, challenge: login.options.challenge });
      expect(
        await service.verifyRegistration(alice.id, login.challengeId, response, 'x'),
      ).toMatchObject({ reason: 'bad_challenge' });
    });

    it('refuses enrolment for a deactivated user', async () => {
      const { service, store, alice, device } = await setup();
      const { options, challengeId } = await service.registrationOptions(alice);
      await store.updateUser({ ...alice, active: false });
      expect(
        await service.verifyRegistration(alice.id, challengeId, device.register(options), 'x'),
      ).toMatchObject({ reason: 'inactive_user' });
    });

    it.each([...malformed.whole, ...malformed.registration].map((body, i) => ({ i, body })))(
      'refuses malformed registration body #$i as malformed',
      async ({ body }) => {
        const { service, alice, device, store } = await setup();
        const { options, challengeId } = await service.registrationOptions(alice);
        const valid = device.register(options);
        const bad = malformed.whole.includes(body)
          ? merged({}, body, valid.id)
          : merged(valid, body, valid.id);
        expect(await service.verifyRegistration(alice.id, challengeId, bad, 'x')).toMatchObject({
          ok: false,
          reason: 'malformed',
        });
        expect(await store.listUserPasskeys(alice.id)).toEqual([]);
      },
    );

    it('refuses a challenge id that is not a string', async () => {
      const { service, alice, device } = await setup();
      const { options } = await service.registrationOptions(alice);
      for (const id of [undefined, null, 7, '', 'x'.repeat(129), ['a']])
        expect(
          await service.verifyRegistration(alice.id, id, device.register(options), 'x'),
        ).toMatchObject({ reason: 'bad_challenge' });
    });
  });

  describe('sign-in', () => {
    it('offers discoverable, user-verified options', async () => {
      const { service } = await setup();
      const { options, challengeId } = await service.authenticationOptions();
      expect(challengeId).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(options).toMatchObject({ rpId: RP_ID, userVerification: 'required' });
      expect(options.allowCredentials ?? []).toEqual([]);
    });

    it('signs in by passkey and records the counter and use; another instance agrees', async () => {
      const { alice, enrolled, signIn, store, clock, other } = await setup();
      const record = await enrolled(alice);
      clock.advance(1000);
      const first = await signIn(record.id);
      expect(first).toEqual({
        ok: true,
        user: expect.objectContaining({ id: alice.id }),
        record: { ...record, counter: 1, lastUsedAt: clock.now() },
      });
      expect(await store.getPasskey(record.id)).toEqual({
        ...record,
        counter: 1,
        lastUsedAt: clock.now(),
      });
      expect(await signIn(record.id, {}, undefined, other)).toMatchObject({
        ok: true,
        record: { counter: 2 },
      });
    });

    it('signs in again and again with an authenticator that keeps no counter', async () => {
      const { alice, enrolled, signIn } = await setup({ origin: ORIGIN, counterStep: 0 });
      const record = await enrolled(alice);
      for (let i = 0; i < 3; i++)
        expect(await signIn(record.id)).toMatchObject({ ok: true, record: { counter: 0 } });
    });

    it('stores the backup state each time it changes', async () => {
      const { alice, enrolled, signIn, store } = await setup({
        origin: ORIGIN,
        backupEligible: true,
      });
      const record = await enrolled(alice);
      expect(record).toMatchObject({ deviceType: 'multiDevice', backedUp: false });
      expect(
        await signIn(record.id, { flags: FLAG.UP | FLAG.UV | FLAG.BE | FLAG.BS }),
      ).toMatchObject({
        ok: true,
        record: { backedUp: true },
      });
      expect((await store.getPasskey(record.id))?.backedUp).toBe(true);
    });

    it('binds a step-up to the signed-in user', async () => {
      const { service, alice, bob, enrolled } = await setup();
      const mine = await enrolled(alice);
      const bobs = new SoftAuthenticator({ origin: ORIGIN });
      const theirs = await enrolled(bob, bobs);
      const { options, challengeId } = await service.authenticationOptions({ userId: alice.id });
      expect(options.allowCredentials?.map((c) => c.id)).toEqual([mine.id]);
      expect(
        await service.verifyAuthentication(challengeId, bobs.assert(options, theirs.id)),
      ).toMatchObject({ ok: false, reason: 'wrong_user' });
    });

    it('refuses a signed assertion whose counter did not increase, and says which credential', async () => {
      const { alice, enrolled, signIn, store } = await setup();
      const record = await enrolled(alice);
      expect(await signIn(record.id)).toMatchObject({ ok: true });
      expect(await signIn(record.id)).toMatchObject({ ok: true, record: { counter: 2 } });
      // A clone of the authenticator, one step behind: same counter, then a lower one.
      for (const counter of [2, 1]) {
        const result = await signIn(record.id, { counter });
        expect(result).toMatchObject({
          ok: false,
          reason: 'counter_regressed',
          record: { id: record.id, userId: alice.id, counter: 2 },
        });
      }
      // A counter reset to 0 on a counting credential is a regression too.
      expect(await signIn(record.id, { counter: 0 })).toMatchObject({
        reason: 'counter_regressed',
      });
      expect((await store.getPasskey(record.id))?.counter).toBe(2);
    });

    it('refuses a replayed assertion: same challenge, or a new one', async () => {
      const { service, alice, enrolled, device } = await setup();
      const record = await enrolled(alice);
      const { options, challengeId } = await service.authenticationOptions();
      const response = device.assert(options, record.id);
      expect(await service.verifyAuthentication(challengeId, response)).toMatchObject({ ok: true });
      expect(await service.verifyAuthentication(challengeId, response)).toMatchObject({
        reason: 'bad_challenge',
      });
      const fresh = await service.authenticationOptions();
      expect(await service.verifyAuthentication(fresh.challengeId, response)).toMatchObject({
        reason: 'verification_failed',
      });
    });

    it('of two instances racing one signed assertion, exactly one accepts it', async () => {
      const { service, other, alice, enrolled, device } = await setup();
      const record = await enrolled(alice);
      const a = await service.authenticationOptions();
      const b = await other.authenticationOptions();
      // One authenticator signature per challenge, both with the same counter (a clone).
      const first = device.assert(a.options, record.id);
      const second = device.assert(b.options, record.id, { counter: 1 });
      const results = await Promise.all([
        service.verifyAuthentication(a.challengeId, first),
        other.verifyAuthentication(b.challengeId, second),
      ]);
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.find((r) => !r.ok)).toMatchObject({ reason: 'counter_regressed' });
    });

    const signInTable: RefusalCase[] = [
      ...SHARED_REFUSALS,
      refused('origin with a port', { origin: `${ORIGIN}:8443` }),
      refused('RP ID hash of a parent suffix', { rpId: 'com' }),
      refused('UV flag missing', { flags: FLAG.UP }),
      refused('UP and UV missing', { flags: 0 }),
      refused('backup eligibility appeared', { flags: FLAG.UP | FLAG.UV | FLAG.BE }),
      refused('create type in get', { type: 'webauthn.create' }),
      refused('no user handle', { userHandle: null }, 'user_handle_mismatch'),
      refused(
        "another user's handle",
        { userHandle: Buffer.from('user-someone-else').toString('base64url') },
        'user_handle_mismatch',
      ),
    ];
    it.each(signInTable)('refuses: $name', async ({ reason, tamper }) => {
      const { alice, enrolled, signIn, store } = await setup();
      const record = await enrolled(alice);
      expect(await signIn(record.id, tamper)).toMatchObject({ ok: false, reason });
      expect((await store.getPasskey(record.id))?.lastUsedAt).toBeNull();
      expect(await signIn(record.id)).toMatchObject({ ok: true });
    });

    it("refuses one credential's signature presented as another's", async () => {
      const { alice, bob, enrolled, signIn } = await setup();
      const mine = await enrolled(alice);
      const theirs = await enrolled(bob, new SoftAuthenticator({ origin: ORIGIN }));
      // Alice's authenticator signs; the response names Bob's credential and Bob's handle.
      expect(
        await signIn(mine.id, {
          reportId: theirs.id,
          userHandle: Buffer.from(bob.id).toString('base64url'),
        }),
      ).toMatchObject({ ok: false, reason: 'verification_failed' });
    });

    it('refuses a tampered signature', async () => {
      const { service, alice, enrolled, device } = await setup();
      const record = await enrolled(alice);
      const { options, challengeId } = await service.authenticationOptions();
      const response = device.assert(options, record.id);
      const sig = Buffer.from(response.response.signature, 'base64url');
      sig[sig.length - 1] = (sig[sig.length - 1] as number) ^ 1;
      const bad: AuthenticationResponseJSON = {
        ...response,
        response: { ...response.response, signature: sig.toString('base64url') },
      };
      expect(await service.verifyAuthentication(challengeId, bad)).toMatchObject({
        reason: 'verification_failed',
      });
    });

    it('refuses a challenge used twice, expired, or issued for enrolment', async () => {
      const { service, other, alice, enrolled, device, clock } = await setup();
      const record = await enrolled(alice);
      const once = await service.authenticationOptions();
      const failed = device.assert(once.options, record.id, { origin: 'https://evil.example.net' });
      expect(await service.verifyAuthentication(once.challengeId, failed)).toMatchObject({
        reason: 'verification_failed',
      });
      expect(
        await other.verifyAuthentication(once.challengeId, device.assert(once.options, record.id)),
      ).toMatchObject({ reason: 'bad_challenge' });

      const late = await service.authenticationOptions();
      clock.advance(PASSKEY_CHALLENGE_TTL_MS - 1);
      const lateResponse = device.assert(late.options, record.id);
      clock.advance(1);
      expect(await other.verifyAuthentication(late.challengeId, lateResponse)).toMatchObject({
        reason: 'bad_challenge',
      });

      const enrolment = await service.registrationOptions(alice);
      const response = device.assert(
        { challenge: enrolment.options.challenge, rpId: RP_ID },
        record.id,
      );
      expect(await service.verifyAuthentication(enrolment.challengeId, response)).toMatchObject({
        reason: 'bad_challenge',
      });
    });

    it('accepts a response just inside the challenge lifetime', async () => {
      const { service, alice, enrolled, device, clock } = await setup();
      const record = await enrolled(alice);
      const { options, challengeId } = await service.authenticationOptions();
      clock.advance(PASSKEY_CHALLENGE_TTL_MS - 1);
      expect(
        await service.verifyAuthentication(challengeId, device.assert(options, record.id)),
      ).toMatchObject({ ok: true });
    });

    it('refuses an unknown or removed credential on every instance', async () => {
      const { alice, enrolled, signIn, other, service } = await setup();
      const stranger = new SoftAuthenticator({ origin: ORIGIN });
      stranger.register((await service.registrationOptions(alice)).options);
      expect(await signIn(undefined, {}, stranger)).toMatchObject({ reason: 'unknown_credential' });
      const record = await enrolled(alice);
      expect(await other.remove(alice.id, record.id)).toMatchObject({ id: record.id });
      expect(await signIn(record.id)).toMatchObject({ reason: 'unknown_credential' });
    });

    it('refuses a deactivated or deleted user at once, on every instance', async () => {
      const { alice, bob, enrolled, signIn, store, other } = await setup();
      const record = await enrolled(alice);
      await store.updateUser({ ...alice, active: false });
      expect(await signIn(record.id, {}, undefined, other)).toMatchObject({
        reason: 'inactive_user',
      });
      const bobs = new SoftAuthenticator({ origin: ORIGIN });
      const theirs = await enrolled(bob, bobs);
      await store.deleteUser(bob.id);
      // Deleting the account removes its passkeys with it: the credential is unknown now.
      expect(await signIn(theirs.id, {}, bobs)).toMatchObject({ reason: 'unknown_credential' });
    });

    it.each([...malformed.whole, ...malformed.authentication].map((body, i) => ({ i, body })))(
      'refuses malformed sign-in body #$i as malformed',
      async ({ body }) => {
        const { service, alice, enrolled, device, store } = await setup();
        const record = await enrolled(alice);
        const { options, challengeId } = await service.authenticationOptions();
        const valid = device.assert(options, record.id);
        const bad = malformed.whole.includes(body)
          ? merged({}, body, record.id)
          : merged(valid, body, record.id);
        expect(await service.verifyAuthentication(challengeId, bad)).toMatchObject({
          ok: false,
          reason: 'malformed',
        });
        expect((await store.getPasskey(record.id))?.counter).toBe(0);
      },
    );
  });

  describe('management', () => {
    it('lists, renames and removes only the owner’s passkeys; an admin removes all', async () => {
      const { service, alice, bob, enrolled, store } = await setup();
      const a1 = await enrolled(alice);
      const a2 = await enrolled(alice, new SoftAuthenticator({ origin: ORIGIN }));
      const b1 = await enrolled(bob, new SoftAuthenticator({ origin: ORIGIN }));
      expect((await service.list(alice.id)).map((p) => p.id).sort()).toEqual([a1.id, a2.id].sort());
      expect(await service.rename(bob.id, a1.id, 'mine')).toBe(false);
      expect(await service.rename(alice.id, a1.id, '\u202eevil\u202c  phone ')).toBe(true);
      expect((await store.getPasskey(a1.id))?.name).toBe('evil phone');
      expect(await service.remove(bob.id, a1.id)).toBeNull();
      expect(await service.remove(alice.id, a1.id)).toMatchObject({ id: a1.id });
      expect(await service.removeAny(b1.id)).toMatchObject({ id: b1.id, userId: bob.id });
      expect((await service.removeAll(alice.id)).map((p) => p.id)).toEqual([a2.id]);
      expect(await service.list(alice.id)).toEqual([]);
    });
  });
});

describe('cleanPasskeyName', () => {
  it.each([
    ['', 'Passkey'],
    ['   ', 'Passkey'],
    ['\u0000\u0007', 'Passkey'],
    ['Chrome on macOS', 'Chrome on macOS'],
    ['a\r\nb', 'a b'],
    ['x'.repeat(200), 'x'.repeat(64)],
    ['😀'.repeat(70), '😀'.repeat(64)],
    ['<script>alert(1)</script>', '<script>alert(1)</script>'],
  ])('%j → %j', (input, output) => {
    expect(cleanPasskeyName(input)).toBe(output);
  });
});
