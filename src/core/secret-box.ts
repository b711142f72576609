import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/*
 * Encryption at rest for secrets portcullis must read back, such as a TOTP seed: unlike a
 * password or a recovery code, a TOTP secret cannot be stored as a hash, because verifying a code
 * means computing HMAC(secret, step). Kept in the clear, anyone who reads the store (a backup, a
 * Redis replica, a MONITOR session) could mint codes for every user and the second factor would be
 * no factor at all. So it is sealed with AES-256-GCM under a key derived (HKDF-SHA-256, RFC 5869)
 * from `auth.secret_key`, which lives in the config or environment, not in the store.
 *
 * The first key seals; every key opens, so `secret_key` rotation (a new key first, the old one
 * kept after it) keeps enrolled authenticators working. A key removed from the list makes the
 * secrets it sealed unreadable: those users must enrol again.
 *
 * `context` (e.g. the user's id) is bound in as GCM associated data: a sealed value copied into
 * another user's record does not open there.
 */

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** An `auth.secret_key` entry: bytes, or the hex text the config holds. */
export type SecretKeyInput = Uint8Array | string;

function keyBytes(key: SecretKeyInput): Buffer {
  if (typeof key !== 'string') return Buffer.from(key);
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(key)) throw new Error('a secret key must be hex');
  return Buffer.from(key, 'hex');
}

/** A 32-byte key for one purpose; a different `purpose` gives an unrelated key. */
export function deriveSubkey(secret: SecretKeyInput, purpose: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', keyBytes(secret), Buffer.alloc(0), `portcullis:${purpose}`, 32),
  );
}

export class SecretBox {
  private readonly keys: Buffer[];

  /** `secretKeys`: `auth.secret_key`, first one sealing. `purpose` separates boxes. */
  constructor(secretKeys: readonly SecretKeyInput[], purpose: string) {
    if (secretKeys.length === 0) throw new Error('SecretBox needs at least one key');
    this.keys = secretKeys.map((key) => deriveSubkey(key, `box:${purpose}:v1`));
  }

  /** `v1.<iv>.<ciphertext+tag>`, base64url parts, under the first key. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0] as Buffer, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `${VERSION}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /** The plaintext, or null when no key opens it (wrong key, wrong context, tampered). */
  open(sealed: string, context: string): { plaintext: string; keyIndex: number } | null {
    const [version, ivText, bodyText, extra] = sealed.split('.');
    if (version !== VERSION || !ivText || !bodyText || extra !== undefined) return null;
    const iv = Buffer.from(ivText, 'base64url');
    const body = Buffer.from(bodyText, 'base64url');
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES) return null;
    const tag = body.subarray(body.length - TAG_BYTES);
    const data = body.subarray(0, body.length - TAG_BYTES);
    for (const [keyIndex, key] of this.keys.entries()) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(tag);
        const plaintext = Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
        return { plaintext, keyIndex };
      } catch {
        // Not this key (GCM's tag check failed): try the next.
      }
    }
    return null;
  }
}
