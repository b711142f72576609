import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityLink, User } from '../../src/ports/store.js';
import {
  CLIENTS,
  CookieJar,
  oidcClientConfig,
  type SsoApp,
  signInAtProvider,
  startProviderForApps,
  startSsoApp,
  type TestAccount,
  type TestProvider,
} from '../helpers/oidc-provider.js';

/**
 * Takeover sequences (test/fixtures/oidc-takeover.json) against a real OpenID Provider: a second
 * subject presenting a victim's email (nOAuth), unverified emails, `link_by_email` off and on,
 * and the subject as the key once linked.
 */
type AppName = 'oidc-default' | 'oidc-trusted' | 'google';

type Step =
  | { account: string; email: string; admin?: boolean }
  | { claims: string; email: string; email_verified: boolean }
  | { signIn: string; status: number; account?: string; text?: string; email?: string };

interface Scenario {
  name: string;
  app: AppName;
  steps: Step[];
}

const { scenarios } = JSON.parse(
  readFileSync(new URL('../fixtures/oidc-takeover.json', import.meta.url), 'utf8'),
) as { scenarios: Scenario[] };

/** Subjects and emails are unique per scenario: one provider and three apps serve them all. */
const unique = (n: number, name: string) => `s${n}-${name}`;
const uniqueEmail = (n: number, email: string) => unique(n, email);

const accounts: Record<string, TestAccount> = {};

let provider: TestProvider;
const apps = {} as Record<AppName, SsoApp>;

beforeAll(async () => {
  const started = await startProviderForApps(3, {
    accounts,
    callbacks: ['/auth/oidc', '/auth/google'],
  });
  provider = started.provider;
  const [a, b, c] = started.ports;
  apps['oidc-default'] = await startSsoApp(a, {
    auth: { enabled_auth: ['magic_link', 'oidc'], oidc: oidcClientConfig(provider.issuer) },
  });
  apps['oidc-trusted'] = await startSsoApp(b, {
    auth: {
      enabled_auth: ['magic_link', 'oidc'],
      oidc: oidcClientConfig(provider.issuer, { link_by_email: true }),
    },
  });
  apps.google = await startSsoApp(
    c,
    {
      auth: {
        enabled_auth: ['magic_link', 'google_oauth'],
        google_oauth: { issuer: provider.issuer },
      },
    },
    {
      env: {
        GOOGLE_CLIENT_ID: CLIENTS.portcullis.id,
        GOOGLE_CLIENT_SECRET: CLIENTS.portcullis.secret,
      },
    },
  );
});

afterAll(async () => {
  for (const app of Object.values(apps)) await app?.close();
  await provider?.stop();
});

async function signIn(app: SsoApp, appName: AppName, subject: string) {
  const jar = new CookieJar();
  const path = appName === 'google' ? '/auth/google' : '/auth/oidc';
  const start = await jar.fetch(`${app.url}${path}?rd=%2F`);
  expect(start.status).toBe(302);
  const callback = await signInAtProvider(jar, start.headers.get('location') as string, subject);
  const done = await jar.fetch(callback);
  return { jar, done };
}

describe.each(scenarios.map((scenario, index) => ({ ...scenario, n: index + 1 })))(
  'OIDC takeover $n: $name',
  ({ n, app: appName, steps }) => {
    it('follows the sequence, and every refusal changes nothing', async () => {
      const app = apps[appName];
      const store = app.ctx.store;
      const aliases = new Map<string, string>();
      const snapshot = async () => {
        const users: (User | null)[] = [];
        for (const id of aliases.values()) users.push(await store.getUser(id));
        return users;
      };
      for (const [index, step] of steps.entries()) {
        const label = `step ${index + 1}: ${JSON.stringify(step)}`;
        if ('account' in step && !('signIn' in step)) {
          const user = await store.createUser({
            id: unique(n, step.account),
            email: uniqueEmail(n, step.email),
            name: step.account,
            groups: [],
            active: true,
            verified: true,
            createdAt: Date.now(),
            lastLoginAt: null,
            ...(step.admin ? { admin: true } : {}),
          });
          aliases.set(step.account, user.id);
        } else if ('claims' in step) {
          accounts[unique(n, step.claims)] = {
            email: uniqueEmail(n, step.email),
            email_verified: step.email_verified,
          };
        } else if ('signIn' in step) {
          const subject = unique(n, step.signIn);
          const linkBefore: IdentityLink | null = await store.getIdentity(provider.issuer, subject);
          const before = await snapshot();
          const { jar, done } = await signIn(app, appName, subject);
          expect(done.status, label).toBe(step.status);
          if (step.status === 303) {
            const me = await fetch(`${app.url}/auth/me`, {
              headers: { cookie: jar.header(app.url) },
            });
            const { id } = (await me.json()) as { id: string };
            const wanted = step.account ?? '';
            if (wanted.startsWith('new:')) {
              expect([...aliases.values()], label).not.toContain(id);
              aliases.set(wanted.slice(4), id);
            } else {
              expect(id, label).toBe(aliases.get(wanted));
            }
            expect((await store.getIdentity(provider.issuer, subject))?.userId, label).toBe(id);
          } else {
            expect(done.headers.get('content-type'), label).toContain('text/html');
            expect(jar.get(app.url, 'portcullis_session'), label).toBeUndefined();
            expect(await done.text(), label).toContain(step.text ?? '');
            expect(await snapshot(), label).toEqual(before);
            const linkAfter = await store.getIdentity(provider.issuer, subject);
            expect(linkAfter?.userId ?? null, label).toBe(linkBefore?.userId ?? null);
          }
          if (step.email !== undefined && step.account !== undefined) {
            const alias = step.account.replace(/^new:/, '');
            const user = await store.getUser(aliases.get(alias) as string);
            expect(user?.email, label).toBe(uniqueEmail(n, step.email));
          }
        }
      }
    });
  },
);
