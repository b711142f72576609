import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveSubkey, SecretBox } from '../../src/core/secret-box.js';

const OLD = randomBytes(32).toString('hex');
const NEW = randomBytes(32).toString('hex');

describe('SecretBox', () => {
  it('opens what it sealed, with the same context', () => {
    const box = new SecretBox([NEW], 'totp-secret');
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'user-1');
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.open(sealed, 'user-1')).toEqual({ plaintext: 'JBSWY3DPEHPK3PXP', keyIndex: 0 });
  });

  it('seals the same secret differently each time (fresh IV)', () => {
    const box = new SecretBox([NEW], 'totp-secret');
    expect(box.seal('x', 'u')).not.toBe(box.seal('x', 'u'));
  });

  it('a wrong key cannot open it', () => {
    const sealed = new SecretBox([OLD], 'totp-secret').seal('secret', 'user-1');
    expect(new SecretBox([NEW], 'totp-secret').open(sealed, 'user-1')).toBeNull();
  });

  it('another purpose cannot open it (keys are separated by HKDF info)', () => {
    const sealed = new SecretBox([NEW], 'totp-secret').seal('secret', 'user-1');
    expect(new SecretBox([NEW], 'other').open(sealed, 'user-1')).toBeNull();
  });

  it("another user's context cannot open it (a sealed value moved between records)", () => {
    const box = new SecretBox([NEW], 'totp-secret');
    expect(box.open(box.seal('secret', 'user-1'), 'user-2')).toBeNull();
  });

  it('after rotation (new key first, old kept) it opens with the old key', () => {
    const sealed = new SecretBox([OLD], 'totp-secret').seal('secret', 'u');
    const rotated = new SecretBox([NEW, OLD], 'totp-secret');
    expect(rotated.open(sealed, 'u')).toEqual({ plaintext: 'secret', keyIndex: 1 });
    expect(rotated.open(rotated.seal('fresh', 'u'), 'u')?.keyIndex).toBe(0);
  });

  it('takes keys as hex text or bytes, the same key either way', () => {
    const sealed = new SecretBox([NEW], 'p').seal('secret', 'u');
    expect(new SecretBox([Buffer.from(NEW, 'hex')], 'p').open(sealed, 'u')?.plaintext).toBe(
      'secret',
    );
    expect(deriveSubkey(NEW, 'p').equals(deriveSubkey(Buffer.from(NEW, 'hex'), 'p'))).toBe(true);
    expect(() => new SecretBox(['not hex'], 'p')).toThrow(/hex/);
    expect(() => new SecretBox([], 'p')).toThrow();
  });

  const tamper: [string, (s: string) => string][] = [
    ['flipped ciphertext byte', (s) => flipFirst(s)],
    ['truncated', (s) => s.slice(0, -4)],
    ['other version', (s) => s.replace(/^v1/, 'v2')],
    ['extra part', (s) => `${s}.AAAA`],
    ['missing body', (s) => s.split('.').slice(0, 2).join('.')],
    ['short IV', (s) => s.replace(/^v1\.[^.]+/, 'v1.AAAA')],
    ['empty', () => ''],
    ['garbage', () => 'v1.!!!.???'],
  ];
  it.each(tamper)('refuses a %s value', (_why, change) => {
    const box = new SecretBox([NEW], 'p');
    expect(box.open(change(box.seal('secret', 'u')), 'u')).toBeNull();
  });
});

function flipFirst(sealed: string): string {
  const [v, iv, body] = sealed.split('.') as [string, string, string];
  const bytes = Buffer.from(body, 'base64url');
  bytes[0] = (bytes[0] as number) ^ 1;
  return `${v}.${iv}.${bytes.toString('base64url')}`;
}
