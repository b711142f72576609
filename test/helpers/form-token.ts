/**
 * What one of our pages hands a client for its forms: the hidden `csrf` value and, when the page
 * set a new signed-out CSRF cookie, that cookie (name=value) to send back with the POST.
 */
export async function formToken(
  baseUrl: string,
  cookie = '',
  path = '/auth/logout',
): Promise<{ token: string; cookie: string }> {
  const response = await fetch(`${baseUrl}${path}`, {
    redirect: 'manual',
    headers: cookie ? { cookie } : {},
  });
  const body = await response.text();
  const match = /name="csrf" value="([A-Za-z0-9_-]{43})"/.exec(body);
  if (!match) throw new Error(`no csrf field on ${path}: ${response.status}`);
  const set = response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0] as string)
    .filter((pair) => pair.includes('portcullis_csrf='));
  return { token: match[1] as string, cookie: [cookie, ...set].filter(Boolean).join('; ') };
}
