import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { RedisStore } from '../../src/adapters/redis/redis-store.js';
import { systemClock } from '../../src/core/clock.js';
import { explain } from '../../src/core/explain.js';
import { NOBODY, subjectFromUser } from '../../src/core/explain-subject.js';
import { parseAbsoluteTarget } from '../../src/core/target.js';
import { UserService } from '../../src/services/users.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/**
 * `portcullis explain` against one table (test/fixtures/explain-cases.json): the real binary on
 * the memory store and on Redis, and the in-process explanation beside the real /auth/nginx
 * answer for the same users, so explain cannot drift from what a check does. The binary tests run
 * the last build (`npm test` builds first; after editing src/, run `npm run build`).
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'portcullis.js');
const KEY = 'ab'.repeat(32);

type Answer = 'allow' | 'login' | 'deny';
interface Case {
  url: string;
  method?: string;
  user?: string;
  answer: Answer;
  rule: number;
  why?: string;
  memory?: { answer: Answer; rule: number };
}
interface Table {
  default_policy: string;
  rules: Record<string, unknown>[];
  users: { email: string; groups: string[]; active: boolean }[];
  cases: Case[];
}

const TABLE = JSON.parse(
  readFileSync(join(ROOT, 'test/fixtures/explain-cases.json'), 'utf8'),
) as Table;
const ACCESS = { default_policy: TABLE.default_policy, rules: TABLE.rules };

const label = (c: Case) => `${c.method ?? '(no method)'} ${c.url} as ${c.user ?? 'nobody'}`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Promise<Result> {
  return new Promise((resolveRun, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of ['PORTCULLIS_CONFIG', 'PORTCULLIS_SECRET_KEY', 'REDIS_URL'])
      delete env[name];
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`portcullis ${args.join(' ')} did not finish\n${stdout}${stderr}`));
    }, 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

function configFile(config: Record<string, unknown>): string {
  const path = join(mkdtempSync(join(tmpdir(), 'portcullis-explain-')), 'portcullis.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

function argsFor(c: Case, config: string): string[] {
  const args = ['explain', c.url, '--config', config];
  if (c.method) args.push('--method', c.method);
  if (c.user) args.push('--user', c.user);
  return args;
}

/** The answer and rule index the binary printed. */
function printed(stdout: string): { answer: string; rule: number } {
  const answer = /^Answer: +(\S+)$/m.exec(stdout)?.[1] ?? '(none)';
  const rule = /^Rule: +access\.rules\[(\d+)\]/m.exec(stdout);
  return { answer, rule: rule ? Number(rule[1]) : -1 };
}

/** Runs every case through the binary, four at a time. */
async function runCases(config: string): Promise<Map<Case, Result>> {
  const results = new Map<Case, Result>();
  const queue = [...TABLE.cases];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let c = queue.shift(); c; c = queue.shift())
        results.set(c, await run(argsFor(c, config)));
    }),
  );
  return results;
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run build` (npm test does it first)');
  }
});

describe('explain agrees with the check it explains', () => {
  let app: TestApp;
  const cookies = new Map<string, string>();
  beforeAll(async () => {
    app = await startTestApp({ access: ACCESS });
    for (const user of TABLE.users) {
      const created = await app.ctx.users.findOrCreate(user.email);
      await app.ctx.store.updateUser({ ...created, groups: user.groups });
      cookies.set(user.email, await app.login(user.email));
      if (!user.active) {
        await app.ctx.store.updateUser({ ...created, groups: user.groups, active: false });
        await app.ctx.sessions.revokeUser(created.id);
      }
    }
  });
  afterAll(async () => {
    await app?.close();
  });

  const STATUS: Record<number, Answer> = { 200: 'allow', 401: 'login', 403: 'deny' };

  it.each(TABLE.cases.map((c) => [label(c), c] as const))('%s', async (_name, c) => {
    const headers: Record<string, string> = { 'x-original-url': c.url };
    if (c.method) headers['x-original-method'] = c.method;
    const cookie = c.user ? cookies.get(c.user) : undefined;
    if (cookie) headers.cookie = `portcullis_session=${cookie}`;
    const check = await fetch(`${app.url}/auth/nginx`, { headers, redirect: 'manual' });
    const parsed = parseAbsoluteTarget(c.url, c.method ?? '');
    if (!parsed.ok) throw new Error(`bad case URL ${c.url}`);
    const user = c.user ? await app.ctx.store.getUserByEmail(c.user) : null;
    const subject = c.user ? subjectFromUser(c.user, user) : NOBODY;
    const explained = explain(
      app.ctx.policy,
      app.ctx.config.raw.access.rules,
      parsed.target,
      subject,
      app.ctx.anonymousUser,
    );
    expect(STATUS[check.status]).toBe(c.answer);
    expect(explained.answer).toBe(c.answer);
    expect(explained.rule?.index ?? -1).toBe(c.rule);
  });
});

describe('portcullis explain on the memory store', () => {
  let results: Map<Case, Result>;
  beforeAll(async () => {
    const config = configFile({ auth: { secret_key: KEY }, access: ACCESS });
    results = await runCases(config);
  }, 120_000);

  it.each(TABLE.cases.map((c) => [label(c), c] as const))('%s', (_name, c) => {
    const result = results.get(c) as Result;
    expect(result.code, result.stderr).toBe(0);
    const expected = c.memory ?? c;
    expect(printed(result.stdout)).toEqual({ answer: expected.answer, rule: expected.rule });
    if (c.user) expect(result.stdout).toContain('the memory store cannot be read from here');
    if (c.why && !c.memory) expect(result.stdout).toContain(c.why);
  });
});

describe('portcullis explain on Redis reads the real user', () => {
  let redis: RedisServer;
  let results: Map<Case, Result>;
  beforeAll(async () => {
    redis = await startRedis();
    const store = new RedisStore({
      url: redis.url,
      sentinel: null,
      cluster: null,
      keyPrefix: 'portcullis:',
      clock: systemClock,
    });
    await store.waitUntilReady(5000);
    const users = new UserService(store, systemClock, { emails: [], groups: [] });
    for (const user of TABLE.users) {
      const created = await users.findOrCreate(user.email);
      await store.updateUser({ ...created, groups: user.groups, active: user.active });
    }
    await store.close();
    const config = configFile({
      auth: { secret_key: KEY },
      store: { url: redis.url },
      access: ACCESS,
    });
    results = await runCases(config);
  }, 120_000);
  afterAll(async () => {
    await redis?.stop();
  });

  it.each(TABLE.cases.map((c) => [label(c), c] as const))('%s', (_name, c) => {
    const result = results.get(c) as Result;
    expect(result.code, result.stderr).toBe(0);
    expect(printed(result.stdout)).toEqual({ answer: c.answer, rule: c.rule });
    if (c.why) expect(result.stdout).toContain(c.why);
  });

  it('says when a user is deactivated, or not in the store', async () => {
    const config = configFile({ auth: { secret_key: KEY }, store: { url: redis.url } });
    const gone = await run([
      'explain',
      'https://app.test/',
      '--user',
      'gone@corp.test',
      '-c',
      config,
    ]);
    expect(gone.stdout).toContain('deactivated: cannot sign in');
    expect(printed(gone.stdout).answer).toBe('login');
    const unknown = await run([
      'explain',
      'https://app.test/',
      '--user',
      'new@x.test',
      '-c',
      config,
    ]);
    expect(unknown.stdout).toContain('no such user in the store');
    expect(printed(unknown.stdout).answer).toBe('allow');
  });
});

describe('portcullis explain: mistakes and faults', () => {
  const good = configFile({ auth: { secret_key: KEY }, access: ACCESS });
  const deadRedis = configFile({
    auth: { secret_key: KEY },
    store: { url: 'redis://127.0.0.1:1/0' },
  });
  const CASES: [string, string[], number, RegExp][] = [
    ['no URL', ['explain', '-c', good], 2, /a URL is required/],
    ['not http(s)', ['explain', 'ftp://app.test/', '-c', good], 2, /not a URL a check accepts/],
    ['a relative URL', ['explain', '/admin', '-c', good], 2, /not a URL a check accepts/],
    ['userinfo', ['explain', 'https://app.test@evil.test/', '-c', good], 2, /userinfo/],
    ['invalid UTF-8', ['explain', 'https://app.test/%c0%ae', '-c', good], 2, /UTF-8/],
    [
      'a bad method',
      ['explain', 'https://app.test/', '--method', 'G T', '-c', good],
      2,
      /not an HTTP method/,
    ],
    [
      'a bad email',
      ['explain', 'https://app.test/', '--user', 'nobody', '-c', good],
      2,
      /not an email/,
    ],
    [
      'Redis down',
      ['explain', 'https://app.test/', '--user', 'a@b.test', '-c', deadRedis],
      1,
      /store is unreachable/,
    ],
  ];
  it.each(CASES)('%s', async (_name, args, code, message) => {
    const result = await run(args);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).not.toContain('Answer:');
  });

  it('without a user on Redis, reads nothing from the store', async () => {
    const result = await run(['explain', 'https://app.test/public/x', '-c', deadRedis]);
    expect(result.code).toBe(0);
    expect(printed(result.stdout).answer).toBe('login');
  });
});

describe('portcullis --version', () => {
  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const result = await run(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });
});
