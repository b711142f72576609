import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import type { Clock } from '../core/clock.js';
import { normalizeEmail } from '../core/email.js';
import type { TokenStore } from '../ports/store.js';
import type { LoginMethodId } from './method-id.js';
import { hasControl } from './oidc-account.js';
import { type OidcClient, ProviderError, type ProviderFailure } from './oidc-client.js';

/** The cookie that ties a sign-in to the browser that started it (path = the prefix). */
export const BINDING_COOKIE = 'portcullis_oidc';
/** How long someone has at the provider (login, MFA, consent) before the attempt expires. */
export const FLOW_TTL_MS = 10 * 60_000;

const BINDING_RE = /^[A-Za-z0-9_-]{43}$/;

/** The provider's claims after every check, reduced to what an account needs. */
export interface VerifiedClaims {
  issuer: string;
  subject: string;
  /** Normalised (lower-case, exactly one `@`). */
  email: string;
  /** Always true here: an unverified address never gets this far. */
  emailVerified: true;
  name: string | null;
  /** All claims, for method-specific checks (Google's `hd`, the groups claim). */
  raw: Readonly<Record<string, unknown>>;
}

export type FlowFailure =
  | ProviderFailure
  /** No such attempt: wrong, replayed or expired `state`, or another browser's callback. */
  | { kind: 'expired'; detail: string }
  | { kind: 'email_unverified' }
  | { kind: 'no_email'; detail: string };

export type CallbackResult =
  | { ok: true; claims: VerifiedClaims; rd: string }
  | { ok: false; failure: FlowFailure; rd: string };

/** Hash the store keys the attempt under: the state itself never reaches the store. */
export function stateKey(state: string): string {
  return createHash('sha256').update(`oidc-state:${state}`).digest('base64url');
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** `true`, or the string "true" some providers (Cognito) send. */
function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

/**
 * One sign-in attempt through an OpenID Provider, from "Sign in with …" to verified claims.
 *
 * `state`, `nonce` and the PKCE verifier are random per attempt and kept server-side, keyed by the
 * state's hash, for 10 minutes and for one use (the store's atomic consume). The attempt is also
 * bound to the browser: a random cookie whose hash the record holds, so a callback URL carried to
 * another browser (login CSRF, a leaked link) is refused (RFC 9700 §4.7.1).
 */
export class OidcFlow {
  constructor(
    private readonly method: LoginMethodId,
    private readonly client: OidcClient,
    private readonly store: TokenStore,
    private readonly clock: Clock,
  ) {}

  get issuer(): string {
    return this.client.settings.issuer;
  }

  /**
   * Records a new attempt and returns where to send the browser, plus the binding value for the
   * cookie (the browser's existing one is reused, so two tabs can sign in at once).
   */
  async start(
    rd: string,
    existingBinding: string | undefined,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<{ url: URL; binding: string }> {
    const binding =
      existingBinding && BINDING_RE.test(existingBinding)
        ? existingBinding
        : randomBytes(32).toString('base64url');
    const checks = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: this.client.settings.pkce ? oidc.randomPKCECodeVerifier() : null,
    };
    // Built before the store write: an unreachable provider leaves nothing behind.
    const url = await this.client.authorizationUrl(checks, extra);
    await this.store.putToken(stateKey(checks.state), {
      email: '',
      rd,
      expiresAt: this.clock.now() + FLOW_TTL_MS,
      purpose: 'oidc_state',
      oidc: {
        method: this.method,
        nonce: checks.nonce,
        verifier: checks.verifier,
        binding: digest(binding).toString('base64url'),
      },
    });
    return { url, binding };
  }

  /**
   * Finishes an attempt from the callback's query. `callback` is the redirect URI with the query
   * as received. Never throws for anything the browser or the provider can cause.
   */
  async finish(
    query: URLSearchParams,
    callback: URL,
    binding: string | undefined,
    wanted: readonly string[] = [],
  ): Promise<CallbackResult> {
    const states = query.getAll('state');
    const state = states[0];
    if (states.length !== 1 || !state || state.length > 512) {
      return this.early(query, { kind: 'expired', detail: 'missing or repeated state' });
    }
    // Consumed before anything else is checked: whatever happens next, this state is spent.
    const record = await this.store.consumeToken(stateKey(state));
    if (record?.purpose !== 'oidc_state' || !record.oidc) {
      return this.early(query, { kind: 'expired', detail: 'unknown, used or expired state' });
    }
    const { rd, oidc: saved } = record;
    if (saved.method !== this.method) {
      return { ok: false, rd, failure: { kind: 'expired', detail: 'state of another method' } };
    }
    const expected = Buffer.from(saved.binding, 'base64url');
    if (
      !binding ||
      !BINDING_RE.test(binding) ||
      expected.length !== 32 ||
      !timingSafeEqual(digest(binding), expected)
    ) {
      return { ok: false, rd, failure: { kind: 'expired', detail: 'browser binding mismatch' } };
    }
    let claims: Record<string, unknown>;
    try {
      claims = await this.client.redeem(
        callback,
        { state, nonce: saved.nonce, verifier: saved.verifier },
        wanted,
      );
    } catch (error) {
      if (error instanceof ProviderError) return { ok: false, rd, failure: error.failure };
      return { ok: false, rd, failure: { kind: 'rejected', detail: String(error) } };
    }
    return this.verify(claims, rd);
  }

  /** Before the state is known: report the provider's own error if it sent one. */
  private early(query: URLSearchParams, failure: FlowFailure): CallbackResult {
    const error = query.get('error');
    if (error !== null)
      return { ok: false, rd: '/', failure: { kind: 'provider_error', code: error } };
    return { ok: false, rd: '/', failure };
  }

  private verify(claims: Record<string, unknown>, rd: string): CallbackResult {
    const subject = claims.sub;
    if (typeof subject !== 'string' || subject.length === 0 || subject.length > 255) {
      return { ok: false, rd, failure: { kind: 'rejected', detail: 'sub missing or too long' } };
    }
    if (typeof claims.email !== 'string') {
      return { ok: false, rd, failure: { kind: 'no_email', detail: 'no email claim' } };
    }
    const email = normalizeEmail(claims.email);
    if (!email) {
      return { ok: false, rd, failure: { kind: 'no_email', detail: 'email claim not an address' } };
    }
    // Entra ID sends no email_verified; its `xms_edov` says the domain owner verified the address.
    if (!isTrue(claims.email_verified) && !isTrue(claims.xms_edov)) {
      return { ok: false, rd, failure: { kind: 'email_unverified' } };
    }
    return {
      ok: true,
      rd,
      claims: {
        // openid-client has checked `iss` against the discovered issuer; the claim is the exact form.
        issuer: typeof claims.iss === 'string' ? claims.iss : this.issuer,
        subject,
        email,
        emailVerified: true,
        name: displayName(claims),
        raw: claims,
      },
    };
  }
}

function displayName(claims: Record<string, unknown>): string | null {
  const pick = (value: unknown) => {
    if (typeof value !== 'string') return null;
    // Control characters would end up in the Remote-Name header.
    const clean = [...value]
      .filter((c) => !hasControl(c))
      .join('')
      .trim();
    return clean === '' ? null : clean.slice(0, 200);
  };
  const given = pick(claims.given_name);
  const family = pick(claims.family_name);
  return (
    pick(claims.name) ??
    (given || family ? [given, family].filter(Boolean).join(' ') : null) ??
    pick(claims.preferred_username)
  );
}
