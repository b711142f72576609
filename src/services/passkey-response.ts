import type { AuthenticatorTransportFuture } from '@simplewebauthn/server';
import { z } from 'zod';

/** WebAuthn §5.8.3: longer credential IDs must be ignored. In base64url: ceil(1023 * 4 / 3). */
export const MAX_CREDENTIAL_ID_CHARS = 1364;

const base64url = z.string().regex(/^[A-Za-z0-9_-]*$/);

/*
 * The shapes browsers send (WebAuthn L3 §5.1 toJSON), checked before the library sees them so
 * hostile JSON is refused as `malformed` and never throws somewhere unexpected.
 */
/** What both ceremonies' responses carry around their `response` member. */
const credentialFields = {
  id: base64url.min(1).max(MAX_CREDENTIAL_ID_CHARS),
  rawId: base64url.min(1).max(MAX_CREDENTIAL_ID_CHARS),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
};

export const registrationShape = z.object({
  ...credentialFields,
  response: z.object({
    clientDataJSON: base64url.min(1).max(8192),
    attestationObject: base64url.min(1).max(65536),
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
});

export const authenticationShape = z.object({
  ...credentialFields,
  response: z.object({
    clientDataJSON: base64url.min(1).max(8192),
    authenticatorData: base64url.min(1).max(65536),
    signature: base64url.min(1).max(1024),
    userHandle: base64url.max(128).nullable().optional(),
  }),
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

export function isTransport(value: string): value is AuthenticatorTransportFuture {
  return (TRANSPORTS as readonly string[]).includes(value);
}

/** The WebAuthn user handle: the user id's UTF-8 bytes (a random id, no personal data, §14.6.1). */
export function userHandleOf(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId, 'utf8'));
}

/** clientDataJSON.crossOrigin: true when the ceremony ran in a cross-origin iframe. */
export function isCrossOrigin(clientDataJSON: string): boolean {
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as unknown;
    return typeof data === 'object' && data !== null && 'crossOrigin' in data
      ? data.crossOrigin === true
      : false;
  } catch {
    return true;
  }
}
