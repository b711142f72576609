import { describe, expect, it } from 'vitest';
import {
  checkUsername,
  deriveUsername,
  initialUsername,
  USERNAME_MAX,
  usernameCandidates,
  usernameKey,
} from '../../src/core/username.js';

describe('checkUsername (admin edits)', () => {
  it.each([
    ['alice', 'alice'],
    ['  Alice.Smith  ', 'Alice.Smith'],
    ['a_b-c.d@e', 'a_b-c.d@e'],
    ['josé', 'josé'],
    ['jose\u0301', 'josé'], // combining accent, NFKC-composed
    ['ｆｕｌｌ', 'full'], // full-width letters
    ['山田', '山田'],
    ['Ωmega2', 'Ωmega2'],
    ['x'.repeat(USERNAME_MAX), 'x'.repeat(USERNAME_MAX)],
    ['7', '7'],
  ])('accepts %j as %j', (input, stored) => {
    expect(checkUsername(input)).toEqual({ ok: true, username: stored });
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['x'.repeat(USERNAME_MAX + 1), 'too_long'],
    ['alice smith', 'invalid_characters'],
    ['alice,bob', 'invalid_characters'],
    ['alice\r\nRemote-User: root', 'invalid_characters'],
    ['alice\u0000', 'invalid_characters'],
    ['alice\u00a0b', 'invalid_characters'], // NFKC turns NBSP into a space
    ['al%69ce', 'invalid_characters'],
    ['../admin', 'invalid_characters'],
    ['a\\b', 'invalid_characters'],
    ['a:b', 'invalid_characters'],
    ['"alice"', 'invalid_characters'],
    ['alice\u200b', 'invalid_characters'], // zero-width space
    ['alice\u202e', 'invalid_characters'], // right-to-left override
    ['😀', 'invalid_characters'],
    ['...', 'no_letter_or_digit'],
    ['-', 'no_letter_or_digit'],
    ['@', 'no_letter_or_digit'],
  ])('refuses %j (%s)', (input, problem) => {
    expect(checkUsername(input)).toEqual({ ok: false, problem });
  });

  it('counts code points, not UTF-16 units', () => {
    expect(checkUsername('𝒜'.repeat(USERNAME_MAX)).ok).toBe(true);
  });
});

describe('deriveUsername / initialUsername (IdP, SCIM and email values)', () => {
  it.each([
    ['alice', 'alice'],
    ['Alice Smith', 'Alice-Smith'],
    [' , alice , ', 'alice'],
    ['a+tag', 'a-tag'],
    ['DOMAIN\\user', 'DOMAIN-user'],
    ['x'.repeat(100), 'x'.repeat(USERNAME_MAX)],
    [`${'x'.repeat(USERNAME_MAX - 1)} y`, 'x'.repeat(USERNAME_MAX - 1)],
    ['!!!', null],
    ['', null],
    [null, null],
    [undefined, null],
  ])('%j → %j', (raw, derived) => {
    expect(deriveUsername(raw)).toBe(derived);
  });

  it('falls back to the local part, then to "user"', () => {
    expect(initialUsername('Bob', 'x@example.com')).toBe('Bob');
    expect(initialUsername('???', 'carol.d@example.com')).toBe('carol.d');
    expect(initialUsername(undefined, '+++@example.com')).toBe('user');
  });
});

describe('uniqueness', () => {
  it('compares case-insensitively after NFKC', () => {
    expect(usernameKey('ALICE')).toBe(usernameKey('alice'));
    expect(usernameKey('ｊｏｓé')).toBe(usernameKey('JOSE\u0301'));
    expect(usernameKey('alice')).not.toBe(usernameKey('аlice')); // Cyrillic а stays apart
  });

  it('tries name, name-2 … name-50, then random suffixes, all within the limit', () => {
    const tried = [
      ...take(
        usernameCandidates('bob', () => 'r4nd0m'),
        52,
      ),
    ];
    expect(tried.slice(0, 3)).toEqual(['bob', 'bob-2', 'bob-3']);
    expect(tried[49]).toBe('bob-50');
    expect(tried[50]).toBe('bob-r4nd0m');
    const long = [
      ...take(
        usernameCandidates('y'.repeat(USERNAME_MAX), () => 'abcdef'),
        52,
      ),
    ];
    for (const name of long) expect(checkUsername(name)).toEqual({ ok: true, username: name });
  });
});

function* take<T>(items: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  let i = 0;
  for (const item of items) {
    yield item;
    i += 1;
    if (i >= n) return;
  }
}
