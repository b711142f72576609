import type { App } from '../../src/app.js';
import type { User } from '../../src/ports/store.js';
import { formToken } from './form-token.js';
import { type LoggedApp, sessionCookieOf } from './mail-app.js';

/** Driving /auth/admin over HTTP the way its forms do, for the admin panel tests. */
export interface PanelClient {
  signIn(email: string, userAgent?: string): Promise<string>;
  get(path: string, cookie?: string): Promise<Response>;
  /** Submits a panel form; the CSRF token is the session's unless `csrf` says otherwise (null: none). */
  post(cookie: string, fields: [string, string][], csrf?: string | null): Promise<Response>;
  idOf(email: string): Promise<string>;
  /** A Traefik forwardAuth check of `url` with this session cookie (or a bearer token). */
  traefik(url: string, credential: { cookie?: string; bearer?: string }): Promise<Response>;
}

export function panelClient(app: LoggedApp): PanelClient {
  const cookieHeader = (cookie?: string): Record<string, string> =>
    cookie ? { cookie: `portcullis_session=${cookie}` } : {};
  return {
    async signIn(email, userAgent = 'vitest') {
      const link = await app.ctx.loginLinks.issue(email, '/');
      const cookie = sessionCookieOf(await app.redeem(link, { userAgent }));
      if (!cookie) throw new Error(`could not sign ${email} in`);
      return cookie;
    },
    get: (path, cookie) =>
      fetch(`${app.url}${path}`, { redirect: 'manual', headers: cookieHeader(cookie) }),
    async post(cookie, fields, csrf) {
      const body = new URLSearchParams(fields);
      const token =
        csrf === undefined
          ? (await formToken(app.url, `portcullis_session=${cookie}`)).token
          : csrf;
      if (token) body.set('csrf', token);
      return fetch(`${app.url}/auth/admin`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...cookieHeader(cookie),
        },
        body: body.toString(),
      });
    },
    idOf: async (email) => (await app.ctx.store.getUserByEmail(email))?.id as string,
    traefik(url, credential) {
      const target = new URL(url);
      return fetch(`${app.url}/auth/traefik`, {
        redirect: 'manual',
        headers: {
          accept: 'application/json',
          'x-forwarded-method': 'GET',
          'x-forwarded-proto': target.protocol.replace(':', ''),
          'x-forwarded-host': target.host,
          'x-forwarded-uri': `${target.pathname}${target.search}`,
          ...cookieHeader(credential.cookie),
          ...(credential.bearer
            ? { authorization: `Bearer ${credential.bearer}` }
            : ({} as Record<string, string>)),
        },
      });
    },
  };
}

/** The text of the element with role=alert that follows `id="<field>-error"`, or null. */
export function fieldError(body: string, id: string): string | null {
  const match = new RegExp(`<p id="${id}-error"[^>]*role="alert">([^<]*)</p>`).exec(body);
  return match ? (match[1] as string) : null;
}

/**
 * Sam, a member of one group from each read-only source: `sso-engineering` from sign-in claims
 * and `finance` provisioned over SCIM (the panel shows both with their source, not editable).
 */
export async function seedGroupSources(
  ctx: Pick<App['ctx'], 'users' | 'store'>,
  now: number,
): Promise<User> {
  const sam = await ctx.users.findOrCreate('sam@example.com', 'Sam');
  await ctx.store.updateUser({ ...sam, groups: ['sso-engineering'] });
  await ctx.store.createGroup({
    id: 'scim-finance',
    displayName: 'finance',
    members: [sam.id],
    createdAt: now,
    updatedAt: now,
    version: 0,
    source: 'scim',
  });
  return sam;
}
