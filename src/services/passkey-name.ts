const MAX_NAME_CHARS = 64;
const DEFAULT_NAME = 'Passkey';

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
