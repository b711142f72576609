import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

/** The admin panel's "Explain access" on a user's page: the same explanation as the CLI. */
describe('admin panel: explain access', () => {
  let app: TestApp;
  let adminCookie: string;
  let opsId: string;
  let devId: string;

  const page = async (params: Record<string, string>, cookie = adminCookie) => {
    const query = new URLSearchParams(params).toString();
    const response = await fetch(`${app.url}/auth/admin?${query}`, {
      redirect: 'manual',
      headers: { cookie: `portcullis_session=${cookie}` },
    });
    return { status: response.status, text: await response.text() };
  };
  const result = (text: string) => /<dl id="explain-result"[\s\S]*?<\/dl>/.exec(text)?.[0] ?? '';

  beforeAll(async () => {
    app = await startTestApp({
      admin: { emails: ['admin@example.com'] },
      access: {
        rules: [
          { host: 'app.test', path: '/api/**', methods: ['GET'], policy: 'bypass' },
          { host: 'app.test', path: '/admin/**', groups: ['ops'] },
        ],
      },
    });
    adminCookie = await app.login('admin@example.com');
    for (const [email, groups] of [
      ['ops@example.com', ['ops']],
      ['dev@example.com', ['dev']],
    ] as const) {
      const user = await app.ctx.users.findOrCreate(email);
      await app.ctx.store.updateUser({ ...user, groups: [...groups] });
    }
    opsId = (await app.ctx.store.getUserByEmail('ops@example.com'))?.id as string;
    devId = (await app.ctx.store.getUserByEmail('dev@example.com'))?.id as string;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('offers the form on a user page, with no answer until asked', async () => {
    const { status, text } = await page({ user: opsId });
    expect(status).toBe(200);
    expect(text).toContain('<h2>Explain access</h2>');
    expect(text).toContain('name="explain_url"');
    expect(result(text)).toBe('');
  });

  const CASES: [string, () => string, string, string, string, string][] = [
    ['a member of ops', () => opsId, 'https://app.test/admin/x', 'GET', 'allow', 'access.rules[1]'],
    [
      'not a member',
      () => devId,
      'https://app.test/admin/x',
      'GET',
      'deny',
      'lets in members of ops',
    ],
    ['a GET-only bypass', () => devId, 'https://app.test/api/x', 'GET', 'allow', 'access.rules[0]'],
    [
      'a method no rule names',
      () => devId,
      'https://app.test/api/x',
      'post',
      'allow',
      'access.default_policy',
    ],
    ['no method forwarded', () => devId, 'https://app.test/api/x', '', 'allow', 'By method'],
  ];
  it.each(CASES)('%s', async (_name, id, url, method, answer, detail) => {
    const { status, text } = await page({ user: id(), explain_url: url, explain_method: method });
    expect(status).toBe(200);
    const shown = result(text);
    expect(shown).toMatch(new RegExp(`<strong class="badge[^"]*">${answer}</strong>`));
    expect(shown).toContain(detail);
  });

  it('says the user is deactivated, and answers as for no session', async () => {
    const user = await app.ctx.users.findOrCreate('old@example.com');
    await app.ctx.store.updateUser({ ...user, groups: ['ops'], active: false });
    const { text } = await page({ user: user.id, explain_url: 'https://app.test/admin/x' });
    expect(result(text)).toMatch(/<strong class="badge[^"]*">login<\/strong>/);
  });

  const BAD: [string, string, string][] = [
    ['a relative URL', '/admin', 'A check would refuse this URL (url)'],
    ['another scheme', 'javascript:alert(1)//', 'A check would refuse this URL'],
    ['userinfo', 'https://app.test@evil.test/', 'A check would refuse this URL (userinfo)'],
  ];
  it.each(BAD)(
    'refuses %s with a message, escaping what was typed',
    async (_name, url, message) => {
      const { status, text } = await page({ user: opsId, explain_url: url });
      expect(status).toBe(200);
      expect(text).toContain(message);
      expect(result(text)).toBe('');
      expect(text).not.toContain('<script>alert');
    },
  );

  it('shows markup in a URL as text', async () => {
    const url = 'https://app.test/"><script>alert(1)</script>';
    const { text } = await page({ user: opsId, explain_url: url });
    expect(result(text)).toContain(
      'https://app.test/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;',
    );
    expect(text).not.toContain('<script>alert');
  });

  it('refuses a method that is not one', async () => {
    const { text } = await page({
      user: opsId,
      explain_url: 'https://app.test/',
      explain_method: 'G T',
    });
    expect(text).toContain('That is not an HTTP method.');
  });

  it('is for admins only', async () => {
    const cookie = await app.login('dev@example.com');
    const { status, text } = await page(
      { user: opsId, explain_url: 'https://app.test/admin/x' },
      cookie,
    );
    expect(status).toBe(403);
    expect(text).not.toContain('explain-result');
  });
});
