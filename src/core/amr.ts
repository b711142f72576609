/**
 * How a session was authenticated, as a list of method names in the spirit of RFC 8176 ("amr",
 * Authentication Method Reference Values). A session starts with the method it signed in by and
 * gains factors by stepping up (a passkey or a one-time code after a link sign-in).
 */
export type AuthMethod =
  /** A magic link from the user's mailbox. */
  | 'link'
  /** Google or another OpenID provider. */
  | 'sso'
  /** A password (RFC 8176 `pwd`). */
  | 'pwd'
  /** A TOTP or recovery code (RFC 8176 `otp`). */
  | 'otp'
  /** A WebAuthn assertion with user verification: a possession and an inherence/knowledge factor at once. */
  | 'passkey';

export const AUTH_METHODS: readonly AuthMethod[] = ['link', 'sso', 'pwd', 'otp', 'passkey'];

/** What an `access.rules[].require` entry asks of a session. */
export type FactorRequirement = 'passkey' | 'mfa';

export function isAuthMethod(value: unknown): value is AuthMethod {
  return typeof value === 'string' && (AUTH_METHODS as readonly string[]).includes(value);
}

/**
 * Refuses names a store cannot keep in its list (Redis keeps them space-separated): a
 * programming error, never user input, so it throws.
 */
export function checkAmrNames(methods: readonly string[]): void {
  for (const method of methods) {
    if (!/^[A-Za-z0-9_.:-]{1,32}$/.test(method)) {
      throw new Error(`not an authentication method name: ${JSON.stringify(method)}`);
    }
  }
}

/**
 * The amr a fresh session gets from the login method id it signed in with (`auth.enabled_auth`
 * names). An unknown id gives [], which satisfies no `require`: failing closed.
 */
export function amrForLoginMethod(method: string): AuthMethod[] {
  switch (method) {
    case 'magic_link':
      return ['link'];
    case 'google_oauth':
    case 'oidc':
      return ['sso'];
    case 'basic':
      return ['pwd'];
    case 'passkey':
      return ['passkey'];
    default:
      return [];
  }
}

/**
 * Whether `amr` meets one requirement. `passkey` needs a passkey; `mfa` needs a second factor: a
 * one-time code, or a passkey (user verification makes it multi-factor by itself, as WebAuthn
 * §6.2.3 describes). SSO is not counted: portcullis cannot see what the provider asked for.
 */
export function meetsRequirement(amr: readonly string[], need: FactorRequirement): boolean {
  if (need === 'passkey') return amr.includes('passkey');
  return amr.includes('passkey') || amr.includes('otp');
}

/**
 * The requirement `amr` does not meet, the strongest first (a passkey also meets `mfa`, so when
 * both are listed and neither is met, `passkey` is what to ask for), or null when every one is.
 */
export function missingFactor(
  require: readonly FactorRequirement[] | undefined,
  amr: readonly string[] | undefined,
): FactorRequirement | null {
  if (!require || require.length === 0) return null;
  const have = amr ?? [];
  if (require.includes('passkey') && !meetsRequirement(have, 'passkey')) return 'passkey';
  if (require.includes('mfa') && !meetsRequirement(have, 'mfa')) return 'mfa';
  return null;
}

/** The strongest requirement in a list (what a person without a session will be asked for). */
export function strongestRequirement(
  require: readonly FactorRequirement[] | undefined,
): FactorRequirement | null {
  if (!require || require.length === 0) return null;
  return require.includes('passkey') ? 'passkey' : 'mfa';
}
