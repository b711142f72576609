import { describe, expect, it } from 'vitest';
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
  RECOVERY_CODE_COUNT,
} from '../../src/core/recovery-codes.js';

describe('generateRecoveryCodes', () => {
  it('gives ten distinct xxxx-xxxx-xx codes of Crockford base32 (50 bits each)', () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(codes).size).toBe(RECOVERY_CODE_COUNT);
    for (const code of codes)
      expect(code).toMatch(/^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{2}$/);
  });

  it('maps the low five bits of each byte onto all 32 characters', () => {
    let next = 0;
    const counting = (size: number) => Uint8Array.from({ length: size }, () => next++ & 255);
    const text = generateRecoveryCodes(counting, 4).join('').replaceAll('-', '');
    expect(new Set(text).size).toBe(32);
    // The high bits do not matter: 0x20 and 0x00 give the same character.
    expect(generateRecoveryCodes(() => new Uint8Array(10).fill(0x20), 1)).toEqual(['0000-0000-00']);
  });

  it('refuses a random source that returns the wrong size', () => {
    expect(() => generateRecoveryCodes(() => new Uint8Array(3))).toThrow(/wrong size/);
  });
});

describe('normalizeRecoveryCode', () => {
  const accepted: [string, string][] = [
    ['ab12-cd34-ef', 'ab12cd34ef'],
    ['AB12-CD34-EF', 'ab12cd34ef'],
    ['ab12cd34ef', 'ab12cd34ef'],
    ['  ab12 cd34 ef\n', 'ab12cd34ef'],
    ['ab12-cd34-eO', 'ab12cd34e0'],
    ['ab1I-cd3L-ef', 'ab11cd31ef'],
  ];
  it.each(accepted)('reads %j as %j', (input, canonical) => {
    expect(normalizeRecoveryCode(input)).toBe(canonical);
  });

  const refused: [string, string][] = [
    ['empty', ''],
    ['too short', 'ab12-cd34-e'],
    ['too long', 'ab12-cd34-ef0'],
    ['u is not in the alphabet', 'ab12-cd34-eu'],
    ['fullwidth letters', 'ａｂ12-cd34-ef'],
    ['cyrillic a', '\u0430b12-cd34-ef'],
    ['zero-width space', 'ab12-cd\u200b34-ef'],
    ['NUL', 'ab12-cd34-ef\u0000'],
    ['huge', `ab12-cd34-ef${' '.repeat(1_000_000)}`],
    ['underscore separator', 'ab12_cd34_ef'],
  ];
  it.each(refused)('refuses %s', (_why, input) => {
    expect(normalizeRecoveryCode(input)).toBeNull();
  });
});

describe('hashRecoveryCode', () => {
  const key = new Uint8Array(32).fill(7);
  it('is keyed and bound to the user', () => {
    const hash = hashRecoveryCode(key, 'u1', 'ab12cd34ef');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hashRecoveryCode(key, 'u2', 'ab12cd34ef')).not.toBe(hash);
    expect(hashRecoveryCode(new Uint8Array(32).fill(8), 'u1', 'ab12cd34ef')).not.toBe(hash);
    expect(hashRecoveryCode(key, 'u1', 'ab12cd34ef')).toBe(hash);
  });
});
