/**
 * A `POST /auth/basic` sign-in against the app at `baseUrl()` that answers the status code. Each
 * call comes from its own address in `subnet` (X-Forwarded-For; loopback is a trusted proxy), so
 * the per-address limit of one call never counts against the next.
 */
export function basicSignIn(baseUrl: () => string, csrf: string, subnet: string) {
  let ip = 0;
  return async (email: string, password: string): Promise<number> => {
    ip += 1;
    const response = await fetch(`${baseUrl()}/auth/basic`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `portcullis_csrf=${csrf}`,
        'x-forwarded-for': `${subnet}.${ip}`,
      },
      body: new URLSearchParams({ csrf, email, password }).toString(),
    });
    await response.arrayBuffer();
    return response.status;
  };
}
