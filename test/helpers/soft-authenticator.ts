import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/*
 * A software WebAuthn authenticator plus client (the browser's part: clientDataJSON), so tests
 * make real registration and assertion responses without a browser. ES256 (P-256) keys from
 * node:crypto, attestation `none`, authenticatorData built byte by byte (WebAuthn §6.1).
 */

type Cbor = number | string | Uint8Array | Map<Cbor, Cbor> | Cbor[];

function head(major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
  if (length < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(length, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(length, 1);
  return b;
}

/** A minimal canonical-enough CBOR encoder (RFC 8949): ints, strings, bytes, arrays, maps. */
export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error('cbor: integers only');
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const parts: Buffer[] = [head(5, value.size)];
  for (const [k, v] of value) parts.push(cbor(k), cbor(v));
  return Buffer.concat(parts);
}

const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

export const FLAG = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 } as const;

/** What a hostile test may change in one ceremony; everything else is what a browser does. */
export interface Tamper {
  origin?: string;
  /** The RP ID whose hash goes into authenticatorData. */
  rpId?: string;
  /** Replaces the computed flags byte. */
  flags?: number;
  /** The signature counter to report (assertion), instead of the next one. */
  counter?: number;
  /** clientDataJSON.type. */
  type?: string;
  /** clientDataJSON.challenge, instead of the options'. */
  challenge?: string;
  crossOrigin?: boolean;
  /** Registration: the credential ID to claim (e.g. another user's); a fresh key still signs. */
  credentialId?: string;
  /** Assertion: the user handle to send (null: none). */
  userHandle?: string | null;
  /** Report `id`/`rawId` as this instead of the credential ID in authenticatorData / the key's. */
  reportId?: string;
}

interface Credential {
  id: string;
  privateKey: KeyObject;
  rpId: string;
  userHandle: string;
  counter: number;
}

export interface SoftAuthenticatorOptions {
  /** The page's origin, as a browser fills clientDataJSON.origin. */
  origin: string;
  /** Backup eligible (a synced passkey): BE set; `backedUp` sets BS too. */
  backupEligible?: boolean;
  backedUp?: boolean;
  /** Counter increment per assertion; 0 for an authenticator without a counter (many passkeys). */
  counterStep?: number;
}

export class SoftAuthenticator {
  readonly credentials = new Map<string, Credential>();

  constructor(private readonly settings: SoftAuthenticatorOptions) {}

  private flags(extra: number): number {
    let flags = FLAG.UP | FLAG.UV | extra;
    if (this.settings.backupEligible) flags |= FLAG.BE;
    if (this.settings.backedUp) flags |= FLAG.BS;
    return flags;
  }

  private clientData(type: string, challenge: string, tamper: Tamper): string {
    return b64u(
      Buffer.from(
        JSON.stringify({
          type: tamper.type ?? type,
          challenge: tamper.challenge ?? challenge,
          origin: tamper.origin ?? this.settings.origin,
          crossOrigin: tamper.crossOrigin ?? false,
        }),
      ),
    );
  }

  /** `navigator.credentials.create(options)`, as JSON. */
  register(
    options: PublicKeyCredentialCreationOptionsJSON,
    tamper: Tamper = {},
  ): RegistrationResponseJSON {
    const rpId = options.rp.id ?? new URL(this.settings.origin).hostname;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    if (!jwk.x || !jwk.y) throw new Error('no EC coordinates');
    // COSE_Key (RFC 9053 §7.1.1): kty EC2, alg ES256, crv P-256, x, y.
    const coseKey = cbor(
      new Map<Cbor, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x, 'base64url')],
        [-3, Buffer.from(jwk.y, 'base64url')],
      ]),
    );
    const idBytes = tamper.credentialId
      ? Buffer.from(tamper.credentialId, 'base64url')
      : randomBytes(32);
    const id = b64u(idBytes);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(idBytes.length);
    const counter = Buffer.alloc(4);
    const authData = Buffer.concat([
      sha256(tamper.rpId ?? rpId),
      Buffer.from([tamper.flags ?? this.flags(FLAG.AT)]),
      counter,
      Buffer.alloc(16), // AAGUID: zeros, as `none` attestation allows
      idLength,
      idBytes,
      coseKey,
    ]);
    const attestationObject = cbor(
      new Map<Cbor, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    this.credentials.set(id, {
      id,
      privateKey,
      rpId,
      userHandle: options.user.id,
      counter: 0,
    });
    const reported = tamper.reportId ?? id;
    return {
      id: reported,
      rawId: reported,
      type: 'public-key',
      response: {
        clientDataJSON: this.clientData('webauthn.create', options.challenge, tamper),
        attestationObject: b64u(attestationObject),
        transports: ['internal', 'hybrid'],
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }

  /**
   * `navigator.credentials.get(options)`, as JSON, with the credential `id` (default: the only
   * or first one this authenticator holds for the options' RP ID).
   */
  assert(
    options: PublicKeyCredentialRequestOptionsJSON,
    id?: string,
    tamper: Tamper = {},
  ): AuthenticationResponseJSON {
    const credential = id
      ? this.credentials.get(id)
      : [...this.credentials.values()].find((c) => c.rpId === (options.rpId ?? c.rpId));
    if (!credential) throw new Error('no such credential on this authenticator');
    const step = this.settings.counterStep ?? 1;
    if (tamper.counter === undefined) credential.counter += step;
    const counterValue = tamper.counter ?? credential.counter;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(counterValue);
    const authData = Buffer.concat([
      sha256(tamper.rpId ?? credential.rpId),
      Buffer.from([tamper.flags ?? this.flags(0)]),
      counter,
    ]);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, tamper);
    // §6.3.3: the signature covers authenticatorData || SHA-256(clientDataJSON); ES256 is DER.
    const signature = sign(
      'sha256',
      Buffer.concat([authData, sha256(Buffer.from(clientDataJSON, 'base64url'))]),
      credential.privateKey,
    );
    const reported = tamper.reportId ?? credential.id;
    const userHandle =
      tamper.userHandle === undefined ? credential.userHandle : (tamper.userHandle ?? undefined);
    return {
      id: reported,
      rawId: reported,
      type: 'public-key',
      response: {
        clientDataJSON,
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        ...(userHandle === undefined ? {} : { userHandle }),
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }
}
