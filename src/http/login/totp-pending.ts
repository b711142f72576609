import type { IncomingMessage } from 'node:http';
import type { Clock } from '../../core/clock.js';
import { readCookie, serializeCookie } from '../../core/cookies.js';
import { hashToken, newRandomToken } from '../../core/one-time-token.js';
import type { PendingSecondFactor, TokenRecord, TokenStore } from '../../ports/tokens.js';

/** How long a half-done sign-in waits for its second step. */
export const PENDING_LOGIN_TTL_MS = 5 * 60_000;

/** The cookie naming the half-done sign-in over plain http. */
export const PENDING_COOKIE = 'portcullis_2fa';
/** Its name when `public_url` is https: `__Host-` so no sibling subdomain can plant one. */
export const HOST_PENDING_COOKIE = `__Host-${PENDING_COOKIE}`;

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** A half-done sign-in taken out of the store: the caller puts it back (`keep`) or lets it go. */
export interface PendingLogin {
  token: string;
  userId: string;
  /** The account's address when the password was checked (for logs only). */
  email: string;
  rd: string;
  stage: PendingSecondFactor['stage'];
  expiresAt: number;
}

export interface PendingLoginSettings {
  /** Whether `public_url` is https. */
  secure: boolean;
  /** `server.path_prefix`: the plain-http cookie's Path. */
  prefix: string;
}

/**
 * Password sign-ins that still owe a second step. No session exists until that step: what the
 * password proved is kept server-side as a one-time record (the store's token machinery, the
 * key being the hash of a 256-bit random value) with a 5-minute TTL, bound to the user and the
 * rd. The browser holds the random value in an HttpOnly, SameSite=Strict cookie, so a form on
 * another site cannot drive the step and the value never appears in a page, URL or log.
 *
 * Each attempt takes the record out atomically (GETDEL in Redis), so of two racing submits at
 * most one can succeed; a wrong code puts it back with its original expiry.
 */
export class PendingLogins {
  readonly cookieName: string;

  constructor(
    private readonly store: Pick<TokenStore, 'putToken' | 'consumeToken' | 'peekToken'>,
    private readonly clock: Clock,
    private readonly settings: PendingLoginSettings,
  ) {
    this.cookieName = settings.secure ? HOST_PENDING_COOKIE : PENDING_COOKIE;
  }

  /** Records a half-done sign-in; returns the Set-Cookie value that names it. */
  async start(
    user: { id: string; email: string },
    rd: string,
    stage: PendingSecondFactor['stage'],
  ): Promise<string> {
    const token = newRandomToken();
    await this.put(token, user.email, rd, { userId: user.id, stage }, this.expiry());
    return this.cookie(token, Math.floor(PENDING_LOGIN_TTL_MS / 1000));
  }

  /** The request's half-done sign-in, left in place (to render its page). */
  async peek(req: IncomingMessage): Promise<PendingLogin | null> {
    const token = this.read(req);
    if (!token) return null;
    return this.toPending(token, await this.store.peekToken(hashToken(token)));
  }

  /** Takes the request's half-done sign-in out of the store: no other request can use it now. */
  async take(req: IncomingMessage): Promise<PendingLogin | null> {
    const token = this.read(req);
    if (!token) return null;
    return this.toPending(token, await this.store.consumeToken(hashToken(token)));
  }

  /** Puts a taken record back, unchanged but for `stage` (and a fresh TTL when it changes). */
  async keep(
    pending: PendingLogin,
    stage: PendingSecondFactor['stage'] = pending.stage,
  ): Promise<string | null> {
    if (stage === pending.stage) {
      if (pending.expiresAt <= this.clock.now()) return null;
      await this.put(pending.token, pending.email, pending.rd, pending, pending.expiresAt);
      return null;
    }
    await this.put(
      pending.token,
      pending.email,
      pending.rd,
      { userId: pending.userId, stage },
      this.expiry(),
    );
    return this.cookie(pending.token, Math.floor(PENDING_LOGIN_TTL_MS / 1000));
  }

  /** The Set-Cookie value that removes the cookie. */
  clear(): string {
    return this.cookie('', 0);
  }

  private expiry(): number {
    return this.clock.now() + PENDING_LOGIN_TTL_MS;
  }

  private async put(
    token: string,
    email: string,
    rd: string,
    step: PendingSecondFactor,
    expiresAt: number,
  ): Promise<void> {
    const record: TokenRecord = {
      email,
      rd,
      expiresAt,
      purpose: 'second_factor',
      secondFactor: { userId: step.userId, stage: step.stage },
    };
    await this.store.putToken(hashToken(token), record);
  }

  private read(req: IncomingMessage): string | null {
    const value = readCookie(req.headers.cookie, this.cookieName);
    return value && TOKEN_SHAPE.test(value) ? value : null;
  }

  private toPending(token: string, record: TokenRecord | null): PendingLogin | null {
    // A magic-link or OIDC record never stands for a half-done password sign-in.
    if (record?.purpose !== 'second_factor' || !record.secondFactor) return null;
    if (record.expiresAt <= this.clock.now()) return null;
    return {
      token,
      userId: record.secondFactor.userId,
      email: record.email,
      rd: record.rd,
      stage: record.secondFactor.stage,
      expiresAt: record.expiresAt,
    };
  }

  private cookie(value: string, maxAgeSeconds: number): string {
    return serializeCookie(this.cookieName, value, {
      secure: this.settings.secure,
      // `__Host-` cookies must have Path=/ or browsers drop them.
      path: this.settings.secure ? '/' : this.settings.prefix || '/',
      sameSite: 'Strict',
      maxAgeSeconds,
    });
  }
}
