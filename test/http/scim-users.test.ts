import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/ports/store.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  BASIC,
  BEARER,
  ENV,
  ERROR,
  type Json,
  PATCH_OP,
  type ScimResult,
  scimRequest,
  USER,
} from '../helpers/scim.js';

describe('SCIM users', () => {
  let app: TestApp;

  const scim = (
    method: string,
    path: string,
    body?: unknown,
    auth: string | null = BASIC,
    headers: Record<string, string> = {},
  ) => scimRequest(app.url, method, path, body, auth, headers);

  const check = (cookie: string) =>
    fetch(`${app.url}/auth/nginx`, {
      headers: { cookie: `portcullis_session=${cookie}`, 'x-original-url': 'http://app.test/' },
    });

  const expectScimError = (result: ScimResult, status: number, scimType?: string) => {
    expect(result.status).toBe(status);
    expect(result.headers.get('content-type')).toBe('application/scim+json; charset=utf-8');
    expect(result.json.schemas).toEqual([ERROR]);
    expect(result.json.status).toBe(String(status));
    if (scimType) expect(result.json.scimType).toBe(scimType);
    expect(typeof result.json.detail).toBe('string');
  };

  beforeAll(async () => {
    app = await startTestApp(
      { server: { public_url: 'https://auth.example.com' }, scim: { enabled: true } },
      { env: ENV },
    );
  });
  afterAll(async () => {
    await app?.close();
  });

  describe('authentication', () => {
    it('refuses missing, wrong and malformed credentials with 401, a challenge and a SCIM error', async () => {
      for (const auth of [
        null,
        `Basic ${Buffer.from('okta:wrong').toString('base64')}`,
        `Basic ${Buffer.from('other:okta-secret-pw').toString('base64')}`,
        `Basic ${Buffer.from('okta').toString('base64')}`,
        'Basic !!!',
        'Bearer entra-token-012345678',
        'Bearer okta-secret-pw',
        `Token ${'x'.repeat(40)}`,
        'Bearer',
      ]) {
        const result = await scim('GET', '/Users', undefined, auth);
        expectScimError(result, 401);
        expect(result.headers.get('www-authenticate')).toContain('Basic realm="SCIM"');
        expect(result.headers.get('www-authenticate')).toContain('Bearer realm="SCIM"');
      }
    });

    it('accepts Basic (Okta) and Bearer (Entra ID) credentials, scheme names in any case', async () => {
      expect((await scim('GET', '/Users', undefined, BASIC)).status).toBe(200);
      expect((await scim('GET', '/Users', undefined, BEARER)).status).toBe(200);
      expect((await scim('GET', '/Users', undefined, `bearer entra-token-0123456789`)).status).toBe(
        200,
      );
    });

    it('answers SCIM 404 on every path when SCIM is disabled', async () => {
      const off = await startTestApp({}, { env: ENV });
      try {
        const response = await fetch(`${off.url}/scim/v2/Users`, {
          headers: { authorization: BASIC },
        });
        expect(response.status).toBe(404);
        expect(response.headers.get('content-type')).toContain('application/scim+json');
        expect(((await response.json()) as Json).schemas).toEqual([ERROR]);
      } finally {
        await off.close();
      }
    });
  });

  describe('discovery', () => {
    it('serves ServiceProviderConfig, ResourceTypes and Schemas', async () => {
      const config = await scim('GET', '/ServiceProviderConfig');
      expect(config.status).toBe(200);
      expect(config.json).toMatchObject({
        patch: { supported: true },
        bulk: { supported: false },
        filter: { supported: true, maxResults: 200 },
      });
      const types = await scim('GET', '/ResourceTypes');
      expect((types.json.Resources as Json[]).map((r) => r.endpoint)).toEqual([
        '/Users',
        '/Groups',
      ]);
      expect((await scim('GET', '/ResourceTypes/User')).json.schema).toBe(USER);
      const schemas = await scim('GET', '/Schemas');
      expect(schemas.json.totalResults).toBe(2);
      const user = await scim('GET', `/Schemas/${USER}`);
      expect((user.json.attributes as Json[]).map((a) => a.name)).toContain('userName');
      expectScimError(await scim('GET', '/Schemas/urn:nope'), 404);
      expectScimError(await scim('GET', '/Nope'), 404);
      expectScimError(await scim('GET', ''), 404);
      expectScimError(await scim('POST', '/ServiceProviderConfig', {}), 405);
    });
  });

  describe('the Okta sequence (SCIM 2.0 Test App)', () => {
    it('looks up, creates, reads, filters, updates and deactivates a user; the session ends at once', async () => {
      // 1. Okta first asks whether the user exists.
      const lookup = await scim(
        'GET',
        `/Users?filter=${encodeURIComponent('userName eq "ada@example.com"')}&startIndex=1&count=100`,
      );
      expect(lookup.status).toBe(200);
      expect(lookup.json).toMatchObject({ totalResults: 0, startIndex: 1, Resources: [] });
      // 2. It creates the user.
      const created = await scim('POST', '/Users', {
        schemas: [USER],
        userName: 'ada@example.com',
        name: { givenName: 'Ada', familyName: 'Lovelace' },
        emails: [{ primary: true, value: 'ada@example.com', type: 'work' }],
        displayName: 'Ada Lovelace',
        locale: 'en-US',
        externalId: '00u1abcdEFGH',
        groups: [],
        password: 'not kept',
        active: true,
      });
      expect(created.status).toBe(201);
      const id = created.json.id as string;
      expect(created.headers.get('location')).toBe(`https://auth.example.com/scim/v2/Users/${id}`);
      expect(created.json).toMatchObject({
        schemas: [USER],
        userName: 'ada@example.com',
        externalId: '00u1abcdEFGH',
        name: { givenName: 'Ada', familyName: 'Lovelace' },
        displayName: 'Ada Lovelace',
        active: true,
        emails: [{ value: 'ada@example.com', primary: true, type: 'work' }],
        meta: { resourceType: 'User', location: `https://auth.example.com/scim/v2/Users/${id}` },
      });
      expect(JSON.stringify(created.json)).not.toContain('not kept');
      const stored = await app.ctx.store.getUserByEmail('ada@example.com');
      expect(stored).toMatchObject({
        id,
        name: 'Ada Lovelace',
        externalId: '00u1abcdEFGH',
        active: true,
      });
      // 3. Reads it back, by id and by filter (attribute names and userName in any case).
      expect((await scim('GET', `/Users/${id}`)).json.userName).toBe('ada@example.com');
      const found = await scim(
        'GET',
        `/Users?filter=${encodeURIComponent('USERNAME eq "ADA@example.com"')}`,
      );
      expect(found.json.totalResults).toBe(1);
      expect((found.json.Resources as Json[])[0]?.id).toBe(id);
      // The person signs in.
      const cookie = await app.login('ada@example.com');
      expect((await check(cookie)).status).toBe(200);
      // 4. Okta updates the profile with PUT.
      const put = await scim('PUT', `/Users/${id}`, {
        ...created.json,
        name: { givenName: 'Ada', familyName: 'King' },
        displayName: 'Ada King',
      });
      expect(put.status).toBe(200);
      expect(put.json).toMatchObject({ displayName: 'Ada King', name: { familyName: 'King' } });
      expect((await check(cookie)).headers.get('remote-name')).toBe('Ada King');
      // 5. Okta deactivates: {"op":"replace","value":{"active":false}}.
      const patch = await scim('PATCH', `/Users/${id}`, {
        schemas: [PATCH_OP],
        Operations: [{ op: 'replace', value: { active: false } }],
      });
      expect(patch.status).toBe(200);
      expect(patch.json.active).toBe(false);
      // Right after: the session is refused.
      expect((await check(cookie)).status).toBe(401);
      expect(await app.ctx.store.listUserSessions(id)).toEqual([]);
      expect((await app.ctx.store.getUser(id))?.active).toBe(false);
      // A new sign-in is refused too.
      await expect(app.login('ada@example.com')).rejects.toThrow();
      // Reactivation allows signing in again.
      const again = await scim('PATCH', `/Users/${id}`, {
        schemas: [PATCH_OP],
        Operations: [{ op: 'replace', value: { active: true } }],
      });
      expect(again.json.active).toBe(true);
      expect((await check(await app.login('ada@example.com'))).status).toBe(200);
    });

    it('answers 409 uniqueness for a second user with the same userName or email', async () => {
      const body = { schemas: [USER], userName: 'dup@example.com', active: true };
      expect((await scim('POST', '/Users', body)).status).toBe(201);
      expectScimError(
        await scim('POST', '/Users', { ...body, userName: 'DUP@example.com' }),
        409,
        'uniqueness',
      );
      expectScimError(
        await scim('POST', '/Users', {
          schemas: [USER],
          userName: 'Dup_UPN',
          emails: [{ value: 'dup@example.com', primary: true }],
        }),
        409,
        'uniqueness',
      );
      // A user who signed up on their own is found, not duplicated.
      await app.login('self@example.com');
      expectScimError(
        await scim('POST', '/Users', { ...body, userName: 'self@example.com' }),
        409,
        'uniqueness',
      );
    });

    it('answers 404 with a SCIM error for unknown ids', async () => {
      for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
        const body =
          method === 'PUT'
            ? { schemas: [USER], userName: 'x@example.com' }
            : method === 'PATCH'
              ? {
                  schemas: [PATCH_OP],
                  Operations: [{ op: 'replace', path: 'active', value: false }],
                }
              : undefined;
        expectScimError(
          await scim(method, '/Users/010f3b52-0000-4000-8000-000000000000', body),
          404,
        );
      }
      expectScimError(await scim('GET', '/Users/%E0%A4%A'), 404);
    });
  });

  describe('the Entra ID sequence (provisioning validator)', () => {
    it('creates with a non-email userName, patches string booleans and paths, deletes for good', async () => {
      const userName = 'Test_User_6b6a2c3e-7d7e-4b22-9a4f-3c2b1a0f9e8d';
      const lookup = await scim(
        'GET',
        `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`,
        undefined,
        BEARER,
      );
      expect(lookup.json.totalResults).toBe(0);
      const created = await scim(
        'POST',
        '/Users',
        {
          schemas: [USER, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
          externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
          userName,
          active: true,
          emails: [{ primary: true, type: 'work', value: 'Test_User_11bb11bb@testuser.com' }],
          meta: { resourceType: 'User' },
          name: {
            formatted: 'givenName familyName',
            familyName: 'familyName',
            givenName: 'givenName',
          },
          roles: [],
          'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Ops' },
        },
        BEARER,
      );
      expect(created.status).toBe(201);
      const id = created.json.id as string;
      expect(created.json).toMatchObject({
        userName,
        emails: [{ value: 'test_user_11bb11bb@testuser.com', primary: true }],
        name: { givenName: 'givenName', familyName: 'familyName' },
      });
      // Entra finds users by userName, externalId, or email.
      for (const filter of [
        `userName eq "${userName.toUpperCase()}"`,
        'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"',
        'emails[type eq "work"].value eq "TEST_USER_11bb11bb@testuser.com"',
        `userName eq "${userName}" and active eq true`,
      ]) {
        const found = await scim(
          'GET',
          `/Users?filter=${encodeURIComponent(filter)}`,
          undefined,
          BEARER,
        );
        expect(found.json.totalResults, filter).toBe(1);
      }
      // externalId is case-exact (RFC 7643 §3.1).
      const wrongCase = await scim(
        'GET',
        `/Users?filter=${encodeURIComponent('externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF"')}`,
        undefined,
        BEARER,
      );
      expect(wrongCase.json.totalResults).toBe(0);
      const cookie = await app.login('test_user_11bb11bb@testuser.com');
      expect((await check(cookie)).status).toBe(200);
      // Attribute updates the way Entra ID sends them.
      const update = await scim(
        'PATCH',
        `/Users/${id}`,
        {
          schemas: [PATCH_OP],
          Operations: [
            { op: 'Replace', path: 'name.givenName', value: 'Grace' },
            { op: 'Replace', path: 'name.familyName', value: 'Hopper' },
            { op: 'Add', path: 'displayName', value: 'Grace Hopper' },
            { op: 'Replace', path: 'emails[type eq "work"].value', value: 'grace@testuser.com' },
            {
              op: 'Add',
              path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
              value: 'R&D',
            },
            { op: 'Replace', value: { 'name.formatted': 'Grace Hopper', externalId: 'ext-2' } },
          ],
        },
        BEARER,
      );
      expect(update.status).toBe(200);
      expect(update.json).toMatchObject({
        name: { givenName: 'Grace', familyName: 'Hopper' },
        displayName: 'Grace Hopper',
        externalId: 'ext-2',
        emails: [{ value: 'grace@testuser.com' }],
      });
      expect(await app.ctx.store.getUserByEmail('test_user_11bb11bb@testuser.com')).toBeNull();
      // The email changed: the session opened under the old address ends at once.
      expect((await check(cookie)).status).toBe(401);
      const regraced = await app.login('grace@testuser.com');
      expect((await check(regraced)).headers.get('remote-email')).toBe('grace@testuser.com');
      // Deactivation: {"op":"Replace","path":"active","value":"False"}.
      const off = await scim(
        'PATCH',
        `/Users/${id}`,
        { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] },
        BEARER,
      );
      expect(off.json.active).toBe(false);
      expect((await check(regraced)).status).toBe(401);
      // Hard delete: 204, then 404 for everything about the user.
      expect((await scim('DELETE', `/Users/${id}`, undefined, BEARER)).status).toBe(204);
      expectScimError(await scim('GET', `/Users/${id}`, undefined, BEARER), 404);
      expectScimError(await scim('DELETE', `/Users/${id}`, undefined, BEARER), 404);
      expect(await app.ctx.store.getUserByEmail('grace@testuser.com')).toBeNull();
    });

    it('DELETE ends the sessions of an active user', async () => {
      const created = await scim('POST', '/Users', {
        schemas: [USER],
        userName: 'gone@example.com',
      });
      const cookie = await app.login('gone@example.com');
      expect((await check(cookie)).status).toBe(200);
      expect((await scim('DELETE', `/Users/${created.json.id}`)).status).toBe(204);
      expect((await check(cookie)).status).toBe(401);
    });
  });

  describe('lists', () => {
    it('pages with startIndex and count, and filters with and/or/not, co, sw, pr', async () => {
      for (const n of [1, 2, 3, 4, 5]) {
        const result = await scim('POST', '/Users', {
          schemas: [USER],
          userName: `page${n}@list.example`,
          displayName: `Pager ${n}`,
          active: n !== 3,
        });
        expect(result.status).toBe(201);
      }
      const q = (filter: string, extra = '') =>
        scim('GET', `/Users?filter=${encodeURIComponent(filter)}${extra}`);
      const all = await q('userName ew "@list.example"', '&count=2&startIndex=2');
      expect(all.json).toMatchObject({ totalResults: 5, startIndex: 2, itemsPerPage: 2 });
      expect((all.json.Resources as Json[]).map((r) => r.userName)).toEqual([
        'page2@list.example',
        'page3@list.example',
      ]);
      const names = async (filter: string) =>
        ((await q(filter)).json.Resources as Json[]).map((r) => r.userName).sort();
      expect(await names('userName sw "page" and active eq false')).toEqual(['page3@list.example']);
      expect(await names('userName eq "page1@list.example" or displayName eq "PAGER 2"')).toEqual([
        'page1@list.example',
        'page2@list.example',
      ]);
      expect(
        await names('userName ew "@list.example" and not (userName co "1" or userName co "2")'),
      ).toEqual(['page3@list.example', 'page4@list.example', 'page5@list.example']);
      expect(await names('userName ew "@list.example" and externalId pr')).toEqual([]);
      expect((await q('userName ew "@list.example"', '&count=0')).json).toMatchObject({
        totalResults: 5,
        Resources: [],
      });
      const unfiltered = await scim('GET', '/Users?startIndex=1&count=1');
      expect(unfiltered.json.itemsPerPage).toBe(1);
      expect(unfiltered.json.totalResults as number).toBeGreaterThanOrEqual(5);
      const slim = await q('userName eq "page1@list.example"', '&attributes=userName');
      expect(Object.keys((slim.json.Resources as Json[])[0] as Json).sort()).toEqual([
        'id',
        'schemas',
        'userName',
      ]);
    });

    it('refuses malformed filters with 400 invalidFilter', async () => {
      for (const filter of [
        'userName',
        'userName eq',
        'userName eq "unterminated',
        'userName zz "x"',
        '(userName eq "x"',
        'userName eq "x")',
        'userName eq "x" and',
        'emails[type eq "work"',
        '__proto__ eq "x"',
        'a.b.c eq "x"',
        `${'('.repeat(40)}userName eq "x"${')'.repeat(40)}`,
        `userName eq "${'x'.repeat(5000)}"`,
        'userName eq x',
        'userName eq "\\q"',
      ]) {
        expectScimError(
          await scim('GET', `/Users?filter=${encodeURIComponent(filter)}`),
          400,
          'invalidFilter',
        );
      }
      expectScimError(await scim('GET', '/Users?startIndex=abc'), 400, 'invalidValue');
    });
  });

  describe('store outage', () => {
    it('answers 503 with Retry-After (the IdP retries), not 500', async () => {
      const store = app.ctx.store;
      const original = store.listUsers.bind(store);
      store.listUsers = () =>
        Promise.reject(new StoreUnavailableError(new Error('connect ECONNREFUSED 127.0.0.1:6379')));
      try {
        const result = await scim('GET', '/Users');
        expectScimError(result, 503);
        expect(result.headers.get('retry-after')).toBe('1');
      } finally {
        store.listUsers = original;
      }
    });
  });

  describe('hostile bodies', () => {
    it('answers 400 (never 500) to wrong types, unknown schemas, bad JSON and prototype keys', async () => {
      const cases: [unknown, string?][] = [
        ['{not json', 'invalidSyntax'],
        ['', 'invalidSyntax'],
        ['[]', 'invalidSyntax'],
        ['"just a string"', 'invalidSyntax'],
        [{ schemas: [USER] }, 'invalidValue'],
        [{ schemas: [USER], userName: 42 }, 'invalidValue'],
        [{ schemas: [USER], userName: 'not-an-email' }, 'invalidValue'],
        [{ schemas: [USER], userName: 'x@example.com', active: 'maybe' }, 'invalidValue'],
        [{ schemas: [USER], userName: 'x@example.com', name: 'flat' }, 'invalidValue'],
        [{ schemas: [USER], userName: 'x@example.com', emails: 'x@example.com' }, 'invalidValue'],
        [{ schemas: [USER], userName: 'x@example.com', emails: [7] }, 'invalidValue'],
        [{ schemas: [USER], userName: 'x', emails: [{ value: 'a@b@c' }] }, 'invalidValue'],
        [{ schemas: [USER], userName: 'x@example.com', externalId: { a: 1 } }, 'invalidValue'],
        [{ schemas: [USER], userName: 'x'.repeat(2000) }, 'invalidValue'],
        [{ schemas: ['urn:evil'], userName: 'x@example.com' }, 'invalidSyntax'],
        [{ schemas: [USER, 'urn:evil'], userName: 'x@example.com' }, 'invalidSyntax'],
        [{ schemas: 'nope', userName: 'x@example.com' }, 'invalidSyntax'],
        [
          {
            schemas: [USER],
            userName: 'x@example.com',
            emails: Array(60).fill({ value: 'x@example.com' }),
          },
          'invalidValue',
        ],
        [
          '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"p@example.com","__proto__":{"admin":true}}',
        ],
        ['{"userName":"p@example.com","name":{"constructor":{"prototype":{"admin":true}}}}'],
        [`${'['.repeat(100_000)}${']'.repeat(100_000)}`],
        [`{"a":${'{"a":'.repeat(50)}1${'}'.repeat(50)}}`],
      ];
      for (const [body, scimType] of cases) {
        const result = await scim('POST', '/Users', body);
        expect(result.status, JSON.stringify(body).slice(0, 120)).toBe(400);
        expectScimError(result, 400, scimType);
      }
      expect(({} as Json).admin).toBeUndefined();
      expect(await app.ctx.store.getUserByEmail('p@example.com')).toBeNull();
      expect(await app.ctx.store.getUserByEmail('x@example.com')).toBeNull();
      // Not JSON at all.
      expectScimError(
        await scim('POST', '/Users', 'userName=x', BASIC, {
          'content-type': 'application/x-www-form-urlencoded',
        }),
        400,
      );
    });

    it('answers 413 to a body over 1 MiB, declared or streamed', async () => {
      const big = JSON.stringify({
        schemas: [USER],
        userName: 'big@example.com',
        pad: 'x'.repeat(1_100_000),
      });
      expectScimError(await scim('POST', '/Users', big), 413);
      // Chunked, without a Content-Length.
      const status = await new Promise<number>((resolve, reject) => {
        const url = new URL(`${app.url}/scim/v2/Users`);
        const req = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            headers: { authorization: BASIC, 'content-type': 'application/scim+json' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        const chunk = 'x'.repeat(64 * 1024);
        for (let i = 0; i < 20; i++) req.write(chunk);
        req.end();
      });
      expect(status).toBe(413);
    });

    it('refuses bad PATCH documents with 400', async () => {
      const created = await scim('POST', '/Users', {
        schemas: [USER],
        userName: 'patchy@example.com',
      });
      const id = created.json.id as string;
      const cases: [unknown, string][] = [
        [{ schemas: [PATCH_OP] }, 'invalidSyntax'],
        [{ schemas: [PATCH_OP], Operations: [] }, 'invalidSyntax'],
        [
          { schemas: ['urn:nope'], Operations: [{ op: 'add', path: 'displayName', value: 'x' }] },
          'invalidSyntax',
        ],
        [
          { schemas: [PATCH_OP], Operations: [{ op: 'move', path: 'displayName', value: 'x' }] },
          'invalidSyntax',
        ],
        [{ schemas: [PATCH_OP], Operations: ['add'] }, 'invalidSyntax'],
        [{ schemas: [PATCH_OP], Operations: [{ op: 'remove' }] }, 'noTarget'],
        [{ schemas: [PATCH_OP], Operations: [{ op: 'replace', value: 'flat' }] }, 'invalidValue'],
        [
          { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'id', value: 'mine' }] },
          'mutability',
        ],
        [
          { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'a.b.c', value: 1 }] },
          'invalidPath',
        ],
        [
          {
            schemas: [PATCH_OP],
            Operations: [{ op: 'replace', path: 'emails[type eq].value', value: 1 }],
          },
          'invalidFilter',
        ],
        [
          {
            schemas: [PATCH_OP],
            Operations: [{ op: 'replace', path: 'emails[type eq', value: 1 }],
          },
          'invalidPath',
        ],
        [
          { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: 'yes' }] },
          'invalidValue',
        ],
        [
          { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: null }] },
          'invalidValue',
        ],
        [
          { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 7, value: 1 }] },
          'invalidPath',
        ],
        [
          {
            schemas: [PATCH_OP],
            Operations: Array(1001).fill({ op: 'replace', path: 'displayName', value: 'x' }),
          },
          'tooMany',
        ],
      ];
      for (const [body, scimType] of cases)
        expectScimError(await scim('PATCH', `/Users/${id}`, body), 400, scimType);
      // Nothing was applied.
      expect((await scim('GET', `/Users/${id}`)).json).toMatchObject({
        userName: 'patchy@example.com',
        active: true,
      });
    });
  });

  describe('usernames', () => {
    it('a user starts with its userName (a UPN kept as is); SCIM keeps reading what it sent', async () => {
      const created = await scim('POST', '/Users', {
        schemas: [USER],
        userName: 'Uma.P@corp.example',
        emails: [{ primary: true, value: 'uma@example.com', type: 'work' }],
        active: true,
      });
      expect(created.status).toBe(201);
      const id = created.json.id as string;
      expect((await app.ctx.store.getUser(id))?.username).toBe('Uma.P@corp.example');
      // An IdP rename changes the SCIM userName, never the username apps have keyed on.
      const renamed = await scim('PUT', `/Users/${id}`, {
        schemas: [USER],
        userName: 'uma.renamed@corp.example',
        emails: [{ primary: true, value: 'uma@example.com', type: 'work' }],
        active: true,
      });
      expect(renamed.status).toBe(200);
      expect(renamed.json.userName).toBe('uma.renamed@corp.example');
      expect((await app.ctx.store.getUser(id))?.username).toBe('Uma.P@corp.example');
      const found = await scim(
        'GET',
        `/Users?filter=${encodeURIComponent('userName eq "UMA.RENAMED@corp.example"')}`,
      );
      expect(found.json).toMatchObject({ totalResults: 1, Resources: [{ id }] });
      // A second user whose userName makes the same username gets a free variant, not a 409.
      const second = await scim('POST', '/Users', {
        schemas: [USER],
        userName: 'uma.p@corp.example',
        emails: [{ primary: true, value: 'uma2@example.com', type: 'work' }],
        active: true,
      });
      expect(second.status).toBe(201);
      expect(second.json.userName).toBe('uma.p@corp.example');
      const secondUser = await app.ctx.store.getUser(second.json.id as string);
      expect(secondUser?.username).toBe('uma.p@corp.example-2');
    });
  });
});
