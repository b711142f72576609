import { describe, expect, it } from 'vitest';
import type { Identity } from '../../src/core/identity.js';
import {
  type HeaderNames,
  identityHeaders,
  type UserValue,
  userHeaderValue,
} from '../../src/core/identity-headers.js';
import { allowedAnswer, checkNames } from '../../src/http/check/endpoints.js';

const alice: Identity = {
  id: 'fc32fd2e-0b1c-4b7e-9c55-3f1d2a0e9b11',
  username: 'alice',
  email: 'alice.smith@example.com',
  name: 'Alice Smith',
  groups: ['staff'],
  anonymous: false,
};

const names: HeaderNames = {
  user: ['Remote-User', 'X-Auth-Request-User'],
  email: ['Remote-Email'],
  name: [],
  groups: [],
};

/** Every value of `name` in a flat header list. */
function valuesOf(headers: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2)
    if (headers[i]?.toLowerCase() === name.toLowerCase()) out.push(headers[i + 1] as string);
  return out;
}

describe('headers.user_value: what the user headers carry', () => {
  it.each<[UserValue | undefined, string]>([
    [undefined, 'alice'],
    ['username', 'alice'],
    ['email', 'alice.smith@example.com'],
    ['id', 'fc32fd2e-0b1c-4b7e-9c55-3f1d2a0e9b11'],
  ])('%s → %s, in every user header, the email header unchanged', (value, expected) => {
    const headers = identityHeaders(
      value === undefined ? names : { ...names, userValue: value },
      alice,
    );
    expect(valuesOf(headers, 'Remote-User')).toEqual([expected]);
    expect(valuesOf(headers, 'X-Auth-Request-User')).toEqual([expected]);
    expect(valuesOf(headers, 'Remote-Email')).toEqual(['alice.smith@example.com']);
  });

  it.each<[string, string]>([
    ['josé', 'jos%C3%A9'],
    ['山田', '%E5%B1%B1%E7%94%B0'],
    ['a.b@corp.example', 'a.b@corp.example'],
    ['bob\r\nRemote-User: root', 'bob%0D%0ARemote-User: root'],
  ])('a username %j goes out as header-safe %j', (username, sent) => {
    expect(userHeaderValue({ ...alice, username }, 'username')).toBe(username);
    const headers = identityHeaders(names, { ...alice, username });
    expect(valuesOf(headers, 'Remote-User')).toEqual([sent]);
  });

  it("the anonymous user's username is its id", () => {
    const anonymous: Identity = {
      id: 'guest',
      username: 'guest',
      email: 'guest@localhost',
      name: 'Guest',
      groups: [],
      anonymous: true,
    };
    expect(valuesOf(identityHeaders(names, anonymous), 'Remote-User')).toEqual(['guest']);
  });
});

describe('compatibility families follow headers.user_value', () => {
  it.each<[UserValue, string]>([
    ['username', 'alice'],
    ['email', 'alice.smith@example.com'],
    ['id', 'fc32fd2e-0b1c-4b7e-9c55-3f1d2a0e9b11'],
  ])(
    'oauth2-proxy with %s: X-Auth-Request-User %s, Preferred-Username the username',
    (value, user) => {
      const answer = allowedAnswer(checkNames({ ...names, userValue: value }, 'oauth2-proxy'));
      const headers = answer.build(alice);
      expect(valuesOf(headers, 'X-Auth-Request-User')).toEqual([user]);
      expect(valuesOf(headers, 'X-Auth-Request-Preferred-Username')).toEqual(['alice']);
    },
  );

  it('oauth2-proxy sends a username that is not the local part as the preferred username', () => {
    const answer = allowedAnswer(checkNames(names, 'oauth2-proxy'));
    const headers = answer.build({ ...alice, username: 'asmith' });
    expect(valuesOf(headers, 'X-Auth-Request-Preferred-Username')).toEqual(['asmith']);
    expect(valuesOf(headers, 'X-Auth-Request-User')).toEqual(['asmith']);
  });

  it.each<[UserValue, string]>([
    ['username', 'alice'],
    ['id', 'fc32fd2e-0b1c-4b7e-9c55-3f1d2a0e9b11'],
  ])('authelia with %s: Remote-User %s', (value, user) => {
    const answer = allowedAnswer(checkNames({ ...names, user: [], userValue: value }, 'authelia'));
    expect(valuesOf(answer.build(alice), 'Remote-User')).toEqual([user]);
  });
});
