import type { IncomingMessage } from 'node:http';
import { readCookie, serializeCookie } from '../core/cookies.js';

/** The cookie's settings, read from `session.*` and `server.public_url` by the composition root. */
export interface SessionCookieSettings {
  /** `session.cookie_name`. */
  name: string;
  /** Whether `public_url` is https. */
  secure: boolean;
  /** `session.cookie_domain`, or null for a host-only cookie. */
  domain: string | null;
  /** `session.lifetime`. */
  lifetimeMs: number;
}

/**
 * The session cookie: its name and every attribute in one place, so the Set-Cookie that signs in
 * and the one that signs out agree on Domain, Path, Secure and SameSite (a clear that differs in
 * Domain or Path leaves the session cookie in the browser and logout silently fails). One is
 * built in app.ts and handed to every component that reads, sets or clears it.
 */
export class SessionCookie {
  readonly name: string;
  private readonly secure: boolean;
  private readonly domain: string | null;
  private readonly maxAgeSeconds: number;

  constructor(settings: SessionCookieSettings) {
    this.name = settings.name;
    this.secure = settings.secure;
    this.domain = settings.domain;
    this.maxAgeSeconds = Math.floor(settings.lifetimeMs / 1000);
  }

  /** The cookie's value from a request, or undefined (an empty value included). */
  read(req: IncomingMessage): string | undefined {
    return this.readHeader(req.headers.cookie);
  }

  /** `read` for a Cookie header already in hand (the reverse proxy's header scan). */
  readHeader(header: string | undefined): string | undefined {
    return readCookie(header, this.name) || undefined;
  }

  /** The Set-Cookie value that stores `value` for the session's lifetime. */
  set(value: string): string {
    return serializeCookie(this.name, value, {
      secure: this.secure,
      domain: this.domain,
      maxAgeSeconds: this.maxAgeSeconds,
    });
  }

  /** The Set-Cookie value that removes it. */
  clear(): string {
    return serializeCookie(this.name, '', {
      secure: this.secure,
      domain: this.domain,
      maxAgeSeconds: 0,
    });
  }
}
