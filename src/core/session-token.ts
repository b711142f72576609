import { createHash, createHmac, webcrypto } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';

const MAX_TOKEN_LENGTH = 2048;

interface SigningKey {
  kid: string;
  key: webcrypto.CryptoKey;
}

/** Derives a purpose-bound key so the session key never doubles as the magic-link key. */
export function deriveKey(secret: Buffer, purpose: string): Buffer {
  return createHmac('sha256', secret).update(`portcullis:${purpose}:v1`).digest();
}

/**
 * The session cookie: an HS256 JWT (RFC 7519) whose only job is to name a server-side session.
 * The first key signs; every key verifies, found by `kid`, so keys rotate without logging
 * everyone out.
 */
export class SessionTokens {
  private constructor(private readonly keys: SigningKey[]) {}

  static async create(secrets: readonly Buffer[]): Promise<SessionTokens> {
    const keys = await Promise.all(
      secrets.map(async (secret) => {
        const raw = deriveKey(secret, 'session');
        const kid = createHash('sha256').update(raw).digest('base64url').slice(0, 12);
        const key = await webcrypto.subtle.importKey(
          'raw',
          raw,
          { name: 'HMAC', hash: 'SHA-256' },
          false,
          ['sign', 'verify'],
        );
        return { kid, key };
      }),
    );
    return new SessionTokens(keys);
  }

  async sign(sessionId: string, issuedAt: number, expiresAt: number): Promise<string> {
    const signer = this.keys[0] as SigningKey;
    return new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: 'HS256', kid: signer.kid, typ: 'JWT' })
      .setIssuedAt(Math.floor(issuedAt / 1000))
      .setExpirationTime(Math.ceil(expiresAt / 1000))
      .sign(signer.key);
  }

  /** The session id the token names, or null for anything not signed by one of our keys and unexpired. */
  async verify(token: string, now: number): Promise<string | null> {
    if (token.length > MAX_TOKEN_LENGTH) return null;
    try {
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const found = this.keys.find((k) => k.kid === header.kid);
          if (!found) throw new errors.JWSSignatureVerificationFailed('unknown kid');
          return found.key;
        },
        { algorithms: ['HS256'], currentDate: new Date(now), typ: 'JWT' },
      );
      return typeof payload.sid === 'string' && payload.sid.length > 0 ? payload.sid : null;
    } catch {
      return null;
    }
  }
}
