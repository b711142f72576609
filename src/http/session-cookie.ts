import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/derive.js';
import { readCookie, serializeCookie } from '../core/cookies.js';

/**
 * The session cookie: its name and every attribute in one place, so the Set-Cookie that signs in
 * and the one that signs out agree on Domain, Path, Secure and SameSite (a clear that differs in
 * Domain or Path leaves the session cookie in the browser and logout silently fails).
 */
export class SessionCookie {
  readonly name: string;
  private readonly secure: boolean;
  private readonly domain: string | null;
  private readonly maxAgeSeconds: number;

  constructor(config: Config) {
    const session = config.raw.session;
    this.name = session.cookie_name;
    this.secure = config.secureCookies;
    this.domain = session.cookie_domain ?? null;
    this.maxAgeSeconds = Math.floor(session.lifetime / 1000);
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

const built = new WeakMap<Config, SessionCookie>();

/** The one SessionCookie of a loaded config, built on first use. */
export function sessionCookie(config: Config): SessionCookie {
  let cookie = built.get(config);
  if (cookie === undefined) {
    cookie = new SessionCookie(config);
    built.set(config, cookie);
  }
  return cookie;
}
