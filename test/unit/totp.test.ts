import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  generateTotpSecret,
  isTotpCodeShape,
  TOTP_PERIOD_MS,
  totpCode,
  totpStep,
  totpUri,
  verifyTotpCode,
} from '../../src/core/totp.js';

/** RFC 6238 Appendix B's SHA-1 seed, "12345678901234567890", in base32. */
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

/**
 * RFC 6238 Appendix B, SHA-1 rows: time (s) → 8-digit TOTP. Our codes have 6 digits; a d-digit
 * code is the truncated value mod 10^d (RFC 4226 §5.3), so ours is the last six digits.
 */
const RFC_VECTORS: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

const NOW = 1_700_000_000_000;
const SECRET = generateTotpSecret();

describe('RFC 6238 test vectors', () => {
  it.each(RFC_VECTORS)('at %i s the code is the last six digits of %s', (seconds, eight) => {
    const step = totpStep(seconds * 1000);
    expect(totpCode(RFC_SECRET, step)).toBe(eight.slice(2));
    expect(verifyTotpCode(eight.slice(2), RFC_SECRET, seconds * 1000, 0)).toEqual({
      ok: true,
      step,
    });
  });

  it('steps are 30 s from the epoch (T0 = 0)', () => {
    expect(totpStep(0)).toBe(0);
    expect(totpStep(29_999)).toBe(0);
    expect(totpStep(30_000)).toBe(1);
    expect(totpStep(59_000)).toBe(1);
  });
});

describe('generateTotpSecret', () => {
  it('gives 160 random bits as 32 base32 characters', () => {
    expect(SECRET).toMatch(/^[A-Z2-7]{32}$/);
    expect(generateTotpSecret()).not.toBe(SECRET);
  });

  it('uses the injected randomness', () => {
    const zeros = (size: number) => new Uint8Array(size);
    expect(generateTotpSecret(zeros)).toBe('A'.repeat(32));
    const rfc = (size: number) => new TextEncoder().encode('12345678901234567890').slice(0, size);
    expect(generateTotpSecret(rfc)).toBe(RFC_SECRET);
  });

  it('refuses a random source that returns the wrong size', () => {
    expect(() => generateTotpSecret(() => new Uint8Array(10))).toThrow(/wrong size/);
  });
});

describe('totpUri', () => {
  it('names the issuer and the account, and carries the secret and parameters', () => {
    const uri = new URL(totpUri('Portcullis', 'alice@example.com', SECRET));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Portcullis:alice@example.com');
    expect(uri.searchParams.get('secret')).toBe(SECRET);
    expect(uri.searchParams.get('issuer')).toBe('Portcullis');
    expect(uri.searchParams.get('algorithm')).toBe('SHA1');
    expect(uri.searchParams.get('digits')).toBe('6');
    expect(uri.searchParams.get('period')).toBe('30');
  });

  it('encodes an issuer and account with reserved characters', () => {
    const uri = new URL(totpUri('Acme & Co / Ops?', 'bob+ops@example.com', SECRET));
    expect(uri.searchParams.get('issuer')).toBe('Acme & Co / Ops?');
    expect(uri.searchParams.get('secret')).toBe(SECRET);
    expect(decodeURIComponent(uri.pathname)).toBe('/Acme & Co / Ops?:bob+ops@example.com');
  });
});

describe('verifyTotpCode window and replay', () => {
  const step = totpStep(NOW);
  const codeAt = (s: number) => totpCode(SECRET, s);

  it('accepts the current step and one step either side', () => {
    for (const s of [step - 1, step, step + 1])
      expect(verifyTotpCode(codeAt(s), SECRET, NOW, 0)).toEqual({ ok: true, step: s });
  });

  it('refuses codes two steps away', () => {
    for (const s of [step - 2, step + 2]) {
      if ([step - 1, step, step + 1].some((near) => codeAt(near) === codeAt(s))) continue;
      expect(verifyTotpCode(codeAt(s), SECRET, NOW, 0)).toEqual({ ok: false, reason: 'bad_code' });
    }
  });

  it('refuses the same code again once its step was used (replay in the same window)', () => {
    const first = verifyTotpCode(codeAt(step), SECRET, NOW, 0);
    expect(first).toEqual({ ok: true, step });
    expect(verifyTotpCode(codeAt(step), SECRET, NOW + 5_000, step)).toEqual({
      ok: false,
      reason: 'replayed',
    });
    // Still refused in the next step, where the old code is inside the window.
    expect(verifyTotpCode(codeAt(step), SECRET, NOW + TOTP_PERIOD_MS, step)).toEqual({
      ok: false,
      reason: 'replayed',
    });
  });

  it('refuses an older code after a newer one was used, and accepts the next step', () => {
    expect(verifyTotpCode(codeAt(step - 1), SECRET, NOW, step)).toEqual({
      ok: false,
      reason: 'replayed',
    });
    expect(verifyTotpCode(codeAt(step + 1), SECRET, NOW, step)).toEqual({
      ok: true,
      step: step + 1,
    });
  });

  it('refuses a code of another secret', () => {
    const other = generateTotpSecret();
    const code = totpCode(other, step);
    const mine = [step - 1, step, step + 1].map(codeAt);
    if (mine.includes(code)) return;
    expect(verifyTotpCode(code, SECRET, NOW, 0)).toEqual({ ok: false, reason: 'bad_code' });
  });

  it('refuses a wrong six-digit code', () => {
    const mine = new Set([step - 1, step, step + 1].map(codeAt));
    const wrong = ['000000', '123456', '999999'].find((c) => !mine.has(c)) as string;
    expect(verifyTotpCode(wrong, SECRET, NOW, 0)).toEqual({ ok: false, reason: 'bad_code' });
  });
});

interface HostileCase {
  why: string;
  input: string;
}

const DIGIT_SETS: Record<string, number> = {
  fullwidth: 0xff10,
  arabic: 0x0660,
  devanagari: 0x0966,
  mathbold: 0x1d7ce,
};

function fill(template: string, code: string): string {
  return template
    .replace(/\{repeat:([^:}]*):(\d+)\}/g, (_m, part: string, n: string) => part.repeat(Number(n)))
    .replace(/\{CODE:digits=(\w+)\}/g, (_m, set: string) =>
      [...code].map((d) => String.fromCodePoint((DIGIT_SETS[set] as number) + Number(d))).join(''),
    )
    .replaceAll('{CODE:spaced}', `${code.slice(0, 3)} ${code.slice(3)}`)
    .replaceAll('{CODE:tabbed}', `${code.slice(0, 3)}\t${code.slice(3)}`)
    .replaceAll('{CODE:nbsp}', `${code.slice(0, 3)}\u00a0${code.slice(3)}`)
    .replaceAll('{CODE:first5}', code.slice(0, 5))
    .replaceAll('{CODE:first4}', code.slice(0, 4))
    .replaceAll('{CODE:first3}', code.slice(0, 3))
    .replaceAll('{CODE:last3}', code.slice(3))
    .replaceAll('{CODE}', code);
}

const hostile = JSON.parse(
  readFileSync(new URL('../fixtures/totp-codes.json', import.meta.url), 'utf8'),
) as { cases: HostileCase[] };

describe('hostile code input', () => {
  const code = totpCode(SECRET, totpStep(NOW));

  it('the corpus starts from a code that is accepted as is', () => {
    expect(verifyTotpCode(code, SECRET, NOW, 0).ok).toBe(true);
  });

  it.each(hostile.cases)('refuses $why', ({ input }) => {
    const value = fill(input, code);
    expect(value).not.toBe(code);
    expect(isTotpCodeShape(value)).toBe(false);
    expect(verifyTotpCode(value, SECRET, NOW, 0)).toEqual({ ok: false, reason: 'malformed' });
  });
});
