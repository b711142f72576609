/**
 * The account page as a browser on our own page drives it over HTTP: GETs with the session
 * cookie, and its forms posted with the page's CSRF field, Origin and Sec-Fetch-Site.
 */
export interface AccountClient {
  get(path: string, cookie?: string, headers?: Record<string, string>): Promise<Response>;
  /** The CSRF field of the account page as `cookie`'s session sees it. */
  csrfOf(cookie: string): Promise<string>;
  /** Submits one of the page's forms; `csrf: null` leaves the field out. */
  post(
    cookie: string,
    fields: Record<string, string>,
    options?: { csrf?: string | null; headers?: Record<string, string> },
  ): Promise<Response>;
  /** Posts `body` exactly as given (repeated fields, no CSRF added) to `path` on our origin. */
  postRaw(cookie: string, body: string, path?: string): Promise<Response>;
}

export function accountClient(app: { url: string }, site: string): AccountClient {
  const get = (path: string, cookie?: string, headers: Record<string, string> = {}) =>
    fetch(`${app.url}${path}`, {
      redirect: 'manual',
      headers: { ...headers, ...(cookie ? { cookie: `portcullis_session=${cookie}` } : {}) },
    });
  async function csrfOf(cookie: string): Promise<string> {
    const body = await (await get('/auth/account', cookie)).text();
    const match = /name="csrf" value="([A-Za-z0-9_-]{43})"/.exec(body);
    if (!match) throw new Error('no csrf field on the account page');
    return match[1] as string;
  }
  const send = (cookie: string, body: string, path: string, headers: Record<string, string>) =>
    fetch(`${app.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_session=${cookie}`,
        origin: site,
        'sec-fetch-site': 'same-origin',
        ...headers,
      },
      body,
    });
  async function post(
    cookie: string,
    fields: Record<string, string>,
    options: { csrf?: string | null; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const body = new URLSearchParams(fields);
    const csrf = options.csrf === undefined ? await csrfOf(cookie) : options.csrf;
    if (csrf) body.set('csrf', csrf);
    return send(cookie, body.toString(), '/auth/account', options.headers ?? {});
  }
  const postRaw = (cookie: string, body: string, path = '/auth/account') =>
    send(cookie, body, path, {});
  return { get, post, postRaw, csrfOf };
}
